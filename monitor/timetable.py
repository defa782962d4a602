"""When each channel is polled next, on the monotonic clock; whether polling has stalled; and
whether the wall clock has stepped.

Pure: the times come in as arguments (monotonic seconds, and the wall clock only where stored
times meet the plan). A wall-clock step (NTP correcting a bad clock, a VM resumed, an operator's
``date -s``) therefore moves no poll: deadlines are monotonic, and a stored time in the future
counts as now. ``monitor.scheduler`` drives the timetable on the event loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

STALL_FACTOR = 3
STALL_FLOOR = timedelta(minutes=15)
LONGEST_WAIT = timedelta(days=2)
"""No poll is planned further ahead than this, or 5 × its interval if longer (pacing stretches
an interval 4 × at most, a platform's pause lasts a day at most)."""
STEP_TOLERANCE = timedelta(seconds=2)
"""The wall clock moving this much more or less than the monotonic clock between two checks is a
step; NTP's slewing (0.5 ms a second at most) never comes near it."""


def stall_after(intervals: Iterable[timedelta]) -> timedelta:
    """How late a due poll may finish before polling counts as stalled:
    max(3 × the shortest poll interval, 15 minutes)."""
    shortest = min(intervals, default=None)
    return STALL_FLOOR if shortest is None else max(STALL_FLOOR, STALL_FACTOR * shortest)


@dataclass(frozen=True, slots=True)
class PollingStatus:
    """What the scheduler reports about itself, for ``/metrics``."""

    polling: bool  # channels are scheduled: this daemon leads
    last_completed: datetime | None  # the newest finished poll (or when polling began)
    stall_after: timedelta
    clock_steps: int  # wall-clock steps noticed since the start


@dataclass(slots=True)
class _Slot:
    interval: float
    due: float  # monotonic: when the next poll is due; stays put while the poll runs


class Timetable:
    """Every scheduled channel's next poll, and the time the newest poll finished."""

    def __init__(self) -> None:
        self._slots: dict[int, _Slot] = {}
        self.last_finished: float | None = None  # or when polling began
        self.stall_after = STALL_FLOOR

    @property
    def planned(self) -> bool:
        return bool(self._slots)

    def plan(
        self,
        intervals: Mapping[int, timedelta],
        last_polls: Mapping[int, datetime],
        *,
        wall: datetime,
        now: float,
        spread: timedelta,
    ) -> None:
        """Plan these channels' first polls (channels planned already keep theirs): one polled
        recently keeps its rhythm; the others are due now, spread over ``spread``. A last poll
        stored in the future (written while the clock ran ahead) says nothing about when it was
        made: that channel is due now too."""
        count = max(1, len(intervals))
        if not self._slots:  # polling begins: the watchdog counts from now
            self.last_finished = now
        for index, (channel_id, interval) in enumerate(intervals.items()):
            seconds = interval.total_seconds()
            last = last_polls.get(channel_id)
            since = (wall - last).total_seconds() if last is not None else math.inf
            if 0 <= since < seconds:
                due = now + seconds - since
            else:
                due = now + spread.total_seconds() * index / count
            self._slots[channel_id] = _Slot(seconds, due)
        self.stall_after = stall_after(timedelta(seconds=s.interval) for s in self._slots.values())

    def clear(self, channel_ids: Collection[int] | None = None) -> None:
        """Plan no further polls of these channels (None: of any)."""
        if channel_ids is None:
            self._slots = {}
            return
        for channel_id in channel_ids:
            self._slots.pop(channel_id, None)

    def due(self) -> dict[int, float]:
        """Each scheduled channel's next due time (monotonic; past while its poll runs)."""
        return {channel_id: slot.due for channel_id, slot in self._slots.items()}

    def take_due(self, now: float, busy: Collection[int]) -> list[int]:
        """The channels due by ``now`` whose poll is not already running."""
        return [i for i, slot in self._slots.items() if slot.due <= now and i not in busy]

    def next_due(self, busy: Collection[int]) -> float | None:
        """When the next poll that is not running falls due (None: nothing planned)."""
        return min((s.due for i, s in self._slots.items() if i not in busy), default=None)

    def finished(self, channel_id: int, now: float, wait: float, *, polled: bool = True) -> None:
        """A poll has ended (``polled``) or was put off; the next is due ``wait`` seconds on."""
        if polled:
            self.last_finished = now
        slot = self._slots.get(channel_id)
        if slot is None:  # unscheduled meanwhile
            return
        longest = max(LONGEST_WAIT.total_seconds(), 5 * slot.interval)
        slot.due = now + (min(max(0.0, wait), longest) if math.isfinite(wait) else slot.interval)

    def stalled(self, now: float) -> str | None:
        """Why polling counts as stalled, or None: some poll due is still unfinished (not started,
        or running) ``stall_after`` past its due time."""
        late = [now - s.due for s in self._slots.values() if s.due <= now]
        limit = self.stall_after.total_seconds()
        if not late or max(late) <= limit:
            return None
        overdue = sum(1 for seconds in late if seconds > limit)
        return (
            f"polling stalled: {overdue} poll(s) due more than {limit:.0f} s ago have not "
            f"finished (the oldest is {max(late):.0f} s overdue)"
        )


class ClockWatch:
    """Notices wall-clock steps: the wall clock moved differently from the monotonic clock."""

    def __init__(
        self,
        wall: Callable[[], datetime],
        monotonic: Callable[[], float],
        *,
        tolerance: timedelta = STEP_TOLERANCE,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._tolerance = tolerance
        self._last = (wall(), monotonic())
        self.steps = 0

    def check(self) -> timedelta | None:
        """The step since the last check (positive: forward), or None."""
        wall, mono = self._wall(), self._monotonic()
        last_wall, last_mono = self._last
        self._last = (wall, mono)
        step = (wall - last_wall) - timedelta(seconds=mono - last_mono)
        if abs(step) <= self._tolerance:
            return None
        self.steps += 1
        return step
