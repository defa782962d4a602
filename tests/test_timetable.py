"""The timetable's heap against a plain reading of its contract: a due time per channel, a set of
polls running, and a scan over every channel for each question."""

from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from monitor.timetable import Timetable
from tests.conftest import NOW

CHANNELS = st.integers(0, 11)
INTERVALS = st.sampled_from([60.0, 600.0, 3600.0, 6 * 3600.0])
WAITS = st.one_of(
    st.floats(-100, 10 * 86400, allow_nan=False),
    st.sampled_from([math.inf, -math.inf, math.nan, 0.0]),
)


class Plain:
    """What the timetable promises, by scanning: the oracle."""

    def __init__(self) -> None:
        self.slots: dict[int, tuple[float, float]] = {}  # channel → (interval, due)
        self.running: set[int] = set()
        self.last_finished: float | None = None

    def plan(
        self, intervals: dict[int, float], ago: dict[int, int], now: float, spread: float
    ) -> None:
        if not self.slots:  # polling begins: the watchdog counts from now
            self.last_finished = now
        for index, (channel, interval) in enumerate(intervals.items()):
            since = ago.get(channel, math.inf)
            recent = 0 <= since < interval  # polled within its interval: keeps its rhythm
            due = now + interval - since if recent else now + spread * index / len(intervals)
            self.slots[channel] = (interval, due)  # channels not named keep their plan

    def take_due(self, now: float) -> list[int]:
        due = [c for c, (_, at) in self.slots.items() if at <= now and c not in self.running]
        self.running |= set(due)
        return due

    def next_due(self) -> float | None:
        return min((at for c, (_, at) in self.slots.items() if c not in self.running), default=None)

    def finished(self, channel: int, now: float, wait: float, polled: bool) -> None:
        if polled:
            self.last_finished = now
        self.running.discard(channel)
        if channel in self.slots:
            interval = self.slots[channel][0]
            if not math.isfinite(wait):
                wait = interval
            wait = min(max(0.0, wait), max(2 * 86400, 5 * interval))
            self.slots[channel] = (interval, now + wait)

    def overdue(self, now: float, limit: float) -> tuple[int, float] | None:
        """How many polls are more than ``limit`` late, and the oldest's lateness."""
        late = [now - at for _, at in self.slots.values() if at <= now]
        if not late or max(late) <= limit:
            return None
        return sum(1 for s in late if s > limit), max(late)


class HeapAgainstPlain(RuleBasedStateMachine):
    """Random plans, re-plans, takes, finishes, deferrals and clock moves; both must agree."""

    def __init__(self) -> None:
        super().__init__()
        self.table = Timetable()
        self.plain = Plain()
        self.now = 1000.0

    @initialize(intervals=st.dictionaries(CHANNELS, INTERVALS, min_size=1))
    def start(self, intervals: dict[int, float]) -> None:
        self.replan(intervals, {}, 0.0)

    @rule(
        intervals=st.dictionaries(CHANNELS, INTERVALS),
        ago=st.dictionaries(CHANNELS, st.integers(-86400, 86400)),
        spread=st.sampled_from([0.0, 1.0, 30.0]),
    )
    def replan(self, intervals: dict[int, float], ago: dict[int, int], spread: float) -> None:
        """Start, shards taken over, a channel added: polls may be running."""
        self.table.plan(
            {c: timedelta(seconds=s) for c, s in intervals.items()},
            {c: NOW - timedelta(seconds=s) for c, s in ago.items()},
            wall=NOW,
            now=self.now,
            spread=timedelta(seconds=spread),
        )
        self.plain.plan(intervals, ago, self.now, spread)

    @rule()
    def clear(self) -> None:
        self.table.clear()
        self.plain.slots = {}

    @rule(channels=st.sets(CHANNELS))
    def clear_some(self, channels: set[int]) -> None:
        """Shards let go: their channels are planned no more, the others keep their plan."""
        self.table.clear(channels)
        for channel in channels:
            self.plain.slots.pop(channel, None)

    @rule(seconds=st.one_of(st.floats(0, 7200, allow_nan=False), st.sampled_from([0.0, 86400.0])))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def to_next_due(self) -> None:
        """The scheduler's loop sleeps until the next poll falls due."""
        due = self.plain.next_due()
        if due is not None:
            self.now = max(self.now, due)

    @rule()
    def take(self) -> None:
        expected = self.plain.take_due(self.now)
        taken = self.table.take_due(self.now)
        assert sorted(taken) == sorted(expected)
        dues = [self.plain.slots[c][1] for c in taken]
        assert dues == sorted(dues), "soonest due first"

    @rule(data=st.data(), wait=WAITS, polled=st.booleans())
    def finish(self, data: st.DataObject, wait: float, polled: bool) -> None:
        """A poll ends, or is put off (a pause); or any channel is finished (one unscheduled)."""
        running = sorted(self.plain.running)
        channel = data.draw(st.sampled_from(running) if running else CHANNELS)
        self.table.finished(channel, self.now, wait, polled=polled)
        self.plain.finished(channel, self.now, wait, polled)

    @rule(channel=CHANNELS, times=st.integers(1, 150), wait=WAITS)
    def defer_over_and_over(self, channel: int, times: int, wait: float) -> None:
        """Put off again and again without being taken: the heap's stale entries pile up."""
        for _ in range(times):
            self.table.finished(channel, self.now, wait, polled=False)
            self.plain.finished(channel, self.now, wait, False)

    @invariant()
    def agree(self) -> None:
        assert self.table.next_due() == self.plain.next_due()
        assert self.table.due() == {c: at for c, (_, at) in self.plain.slots.items()}
        assert self.table.planned == bool(self.plain.slots)
        assert self.table.last_finished == self.plain.last_finished

    @invariant()
    def stall_watchdog_agrees(self) -> None:
        limit = self.table.stall_after.total_seconds()
        for now in (self.now, self.now + limit, self.now + 3 * limit):
            reason = self.table.stalled(now)
            expected = self.plain.overdue(now, limit)
            if expected is None:
                assert reason is None
            else:
                count, oldest = expected
                assert reason is not None
                assert f"{count} poll(s)" in reason
                assert f"the oldest is {oldest:.0f} s overdue" in reason


HeapAgainstPlain.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None
)
TestHeapAgainstPlain = HeapAgainstPlain.TestCase


def test_a_channel_running_through_a_replan_is_not_taken_twice() -> None:
    table = Timetable()
    hour = timedelta(hours=1)
    table.plan({1: hour, 2: hour}, {}, wall=NOW, now=0.0, spread=timedelta(0))
    assert table.take_due(0.0) == [1, 2]
    table.clear()  # standing by while both polls run
    table.plan({1: hour, 3: hour}, {}, wall=NOW, now=5.0, spread=timedelta(0))
    assert table.take_due(5.0) == [3]  # 1 still runs; 2 is no longer planned
    assert table.next_due() is None
    table.finished(2, 6.0, 60)  # unscheduled meanwhile: nothing to plan
    table.finished(1, 7.0, 60)
    assert table.next_due() == 67.0
    assert table.take_due(67.0) == [1]


def test_stale_entries_do_not_pile_up() -> None:
    table = Timetable()
    table.plan({1: timedelta(hours=1)}, {}, wall=NOW, now=0.0, spread=timedelta(0))
    for second in range(10_000):  # put off again and again, never taken
        table.finished(1, float(second), 60, polled=False)
    assert len(table._queue) <= 2 * 1 + 64 + 1
    assert table.take_due(10_000.0 + 59) == [1]
