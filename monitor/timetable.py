"""When each channel is polled next, on the monotonic clock; whether polling has stalled; and
whether the wall clock has stepped.

Pure: the times come in as arguments (monotonic seconds, and the wall clock only where stored
times meet the plan). A wall-clock step (NTP correcting a bad clock, a VM resumed, an operator's
``date -s``) therefore moves no poll: deadlines are monotonic, and a stored time in the future
counts as now. ``monitor.scheduler`` drives the timetable on the event loop.
"""

from __future__ import annotations

import heapq
import itertools
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
    turn: int  # which of the queue's entries for this channel is current


class Timetable:
    """Every scheduled channel's next poll, the polls running, and when the newest finished.

    The channels waiting for their poll sit in a heap by due time, so taking the due ones and
    finding the next due time cost O(log n) a poll, however many channels there are. An entry
    is current while its channel's slot still has its ``turn`` and the channel is not running;
    older entries are dropped as they come to the top (or all at once when they pile up).
    """

    def __init__(self) -> None:
        self._slots: dict[int, _Slot] = {}
        self._queue: list[tuple[float, int, int]] = []  # (due, turn, channel id), a heap
        self._running: set[int] = set()  # taken and not finished, planned or not
        self._turns = itertools.count()
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
        made: that channel is due now too. A channel whose poll is still running is taken again
        only after it has finished."""
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
            slot = self._slots[channel_id] = _Slot(seconds, due, next(self._turns))
            heapq.heappush(self._queue, (due, slot.turn, channel_id))  # not current while it runs
        self.stall_after = stall_after(timedelta(seconds=s.interval) for s in self._slots.values())

    def clear(self, channel_ids: Collection[int] | None = None) -> None:
        """Plan no further polls of these channels (None: of any); the polls running still end
        with ``finished``."""
        if channel_ids is None:
            self._slots, self._queue = {}, []
            return
        for channel_id in channel_ids:
            self._slots.pop(channel_id, None)  # its queue entries are no longer current

    def due(self) -> dict[int, float]:
        """Each scheduled channel's next due time (monotonic; past while its poll runs)."""
        return {channel_id: slot.due for channel_id, slot in self._slots.items()}

    def take_due(self, now: float) -> list[int]:
        """The channels due by ``now`` whose poll is not running, soonest due first; each runs
        from now until ``finished``."""
        taken = []
        while self._queue and self._queue[0][0] <= now:
            entry = heapq.heappop(self._queue)
            if self._current(entry):
                self._running.add(entry[2])
                taken.append(entry[2])
        return taken

    def next_due(self) -> float | None:
        """When the next poll that is not running falls due (None: nothing planned)."""
        while self._queue and not self._current(self._queue[0]):
            heapq.heappop(self._queue)
        return self._queue[0][0] if self._queue else None

    def finished(
        self, channel_id: int, now: float, wait: float, *, polled: bool = True
    ) -> float | None:
        """A poll has ended (``polled``) or was put off; the next is due ``wait`` seconds on.
        Returns when (None: the channel is no longer scheduled)."""
        if polled:
            self.last_finished = now
        self._running.discard(channel_id)
        slot = self._slots.get(channel_id)
        if slot is None:  # unscheduled meanwhile
            return None
        longest = max(LONGEST_WAIT.total_seconds(), 5 * slot.interval)
        slot.due = now + (min(max(0.0, wait), longest) if math.isfinite(wait) else slot.interval)
        slot.turn = next(self._turns)
        heapq.heappush(self._queue, (slot.due, slot.turn, channel_id))
        if len(self._queue) > 2 * len(self._slots) + 64:  # finished without being taken, often
            self._queue = [entry for entry in self._queue if self._current(entry)]
            heapq.heapify(self._queue)
        return slot.due

    def stalled(self, now: float) -> str | None:
        """Why polling counts as stalled, or None: some poll due is still unfinished (not started,
        or running) ``stall_after`` past its due time."""
        limit = self.stall_after.total_seconds()
        oldest = [self._slots[i].due for i in self._running if i in self._slots]
        if (waiting := self.next_due()) is not None:
            oldest.append(waiting)
        if not oldest or now - min(oldest) <= limit:
            return None
        late = [now - s.due for s in self._slots.values() if s.due <= now]
        overdue = sum(1 for seconds in late if seconds > limit)
        return (
            f"polling stalled: {overdue} poll(s) due more than {limit:.0f} s ago have not "
            f"finished (the oldest is {max(late):.0f} s overdue)"
        )

    def _current(self, entry: tuple[float, int, int]) -> bool:
        _, turn, channel_id = entry
        slot = self._slots.get(channel_id)
        return slot is not None and slot.turn == turn and channel_id not in self._running


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
