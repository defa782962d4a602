"""The scheduler: polls on the monotonic clock through wall-clock steps, a watchdog for
/healthz, and a drain of the polls in flight on shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from monitor.jobs import PollReport, utcnow
from monitor.metrics import PollingCollector
from monitor.scheduler import HOUSEKEEPING_DELAY, PollScheduler
from monitor.settings import ChannelSettings, Policy
from monitor.timetable import ClockWatch, Timetable, stall_after
from monitor.web import build_app
from tests.conftest import NOW
from tests.test_notify_web import no_views, ready


class SlowPoller:
    """Stands in for the Poller: each poll waits until the test lets it finish."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.finished = 0
        self.cancelled = 0
        self.active: set[int] = set()  # holding their slots, as Poller.active

    async def poll(self, channel: ChannelSettings, channel_id: int) -> PollReport:
        self.active.add(channel_id)
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.active.discard(channel_id)
        self.finished += 1
        return PollReport(ok=True)


CHANNEL = ChannelSettings(
    "Gemeente A", "rss", "https://a.example/rss", Policy(), timedelta(hours=1)
)


async def test_a_poll_in_flight_finishes_within_the_grace() -> None:
    poller = SlowPoller()
    scheduler = PollScheduler(poller, [(CHANNEL, 1)], jitter=timedelta(0), clock=utcnow)  # type: ignore[arg-type]
    scheduler.start()
    await asyncio.wait_for(poller.started.wait(), 10)
    shutdown = asyncio.create_task(scheduler.shutdown(grace=10))

    async def draining() -> None:
        while not scheduler.draining:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(draining(), 10)  # shutdown has begun while the poll still runs
    assert poller.finished == 0
    poller.release.set()
    await asyncio.wait_for(shutdown, 10)
    assert (poller.finished, poller.cancelled) == (1, 0)
    assert not scheduler.running


async def test_a_poll_that_outlasts_the_grace_is_cancelled() -> None:
    poller = SlowPoller()
    scheduler = PollScheduler(poller, [(CHANNEL, 1)], jitter=timedelta(0), clock=utcnow)  # type: ignore[arg-type]
    scheduler.start()
    await asyncio.wait_for(poller.started.wait(), 10)
    await asyncio.wait_for(scheduler.shutdown(grace=0.05), 10)
    assert (poller.finished, poller.cancelled) == (0, 1)


class GatedPoller:
    """Channel 1 reads until released, 2 waits for a slot that never frees, 3 never answers."""

    def __init__(self) -> None:
        self.active: set[int] = set()
        self.waiting: set[int] = set()
        self.release = asyncio.Event()
        self.outcome: dict[int, str] = {}

    async def poll(self, channel: ChannelSettings, channel_id: int) -> PollReport:
        try:
            if channel_id == 2:
                self.waiting.add(channel_id)
                await asyncio.Event().wait()  # a busy host: the slot never comes
            self.active.add(channel_id)
            await (self.release.wait() if channel_id == 1 else asyncio.Event().wait())
        except asyncio.CancelledError:
            self.outcome[channel_id] = "cancelled"
            raise
        finally:
            self.active.discard(channel_id)
        self.outcome[channel_id] = "finished"
        return PollReport(ok=True)


async def test_a_stop_abandons_waiting_polls_at_once_and_says_how_many_finished(
    caplog: pytest.LogCaptureFixture,
) -> None:
    poller = GatedPoller()
    scheduler = PollScheduler(
        poller,  # type: ignore[arg-type]
        every(timedelta(hours=1), 1, 2, 3),
        jitter=timedelta(0),
        clock=utcnow,
    )
    scheduler.start()
    await until(lambda: poller.active == {1, 3} and poller.waiting == {2}, "three polls")
    caplog.set_level(logging.INFO, logger="channel_monitor.scheduler")
    began = time.monotonic()
    stopping = asyncio.create_task(scheduler.shutdown(grace=2))
    # the poll waiting for its slot is abandoned at once, not after the grace
    await until(lambda: poller.outcome.get(2) == "cancelled", "the waiting poll to be abandoned")
    assert time.monotonic() - began < 1
    assert 1 not in poller.outcome and not stopping.done()
    poller.release.set()  # the running poll finishes within the grace
    await asyncio.wait_for(stopping, 10)
    assert 2 <= time.monotonic() - began < 4  # channel 3 had its grace, then was cut short
    assert poller.outcome == {1: "finished", 2: "cancelled", 3: "cancelled"}
    said = [r.getMessage() for r in caplog.records if "stopped polling" in r.getMessage()]
    assert said == [
        "stopped polling: 1 polls in flight finished, 2 abandoned (1 waiting for a slot, "
        "1 still running after 2 s); the abandoned are polled again at the next start"
    ]
    assert not any(r.exc_info for r in caplog.records)


# --- clock steps, stored times in the future, the watchdog -----------------------------------


class Clocks:
    """A wall clock and a monotonic clock the test moves; the wall clock can also step alone."""

    def __init__(self) -> None:
        self.wall_now = NOW
        self.mono_now = 1000.0

    def wall(self) -> datetime:
        return self.wall_now

    def mono(self) -> float:
        return self.mono_now

    def advance(self, seconds: float) -> None:
        self.wall_now += timedelta(seconds=seconds)
        self.mono_now += seconds

    def step(self, by: timedelta) -> None:
        self.wall_now += by


class SteppedClock:
    """The real wall clock plus an offset the test changes: a clock step, in process."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


class CountingPoller:
    """Polls at once; counts them."""

    def __init__(self) -> None:
        self.polls = 0
        self.active: set[int] = set()

    async def poll(self, channel: ChannelSettings, channel_id: int) -> PollReport:
        self.polls += 1
        return PollReport(ok=True)


class HangingPoller:
    """A poll that never finishes (a stuck call without a timeout)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.active: set[int] = set()

    async def poll(self, channel: ChannelSettings, channel_id: int) -> PollReport:
        self.active.add(channel_id)
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def every(interval: timedelta, *ids: int) -> list[tuple[ChannelSettings, int]]:
    return [
        (ChannelSettings("Gemeente A", "rss", f"https://a.example/{i}", Policy(), interval), i)
        for i in ids
    ]


async def until(predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_a_restart_polls_a_channel_whose_stored_last_poll_is_in_the_future() -> None:
    # written while the clock ran 30 days ahead: it says nothing about when that poll was made
    poller = CountingPoller()
    scheduler = PollScheduler(
        poller,  # type: ignore[arg-type]
        every(timedelta(hours=1), 1),
        jitter=timedelta(0),
        clock=utcnow,
        last_polls={1: utcnow() + timedelta(days=30)},
    )
    scheduler.start()
    try:
        await until(lambda: poller.polls >= 1, "the channel to be polled")
    finally:
        await scheduler.shutdown(grace=1)


class RetryingPoller:
    """Every poll of channel 2 fails and asks to be tried again in 50 ms; channel 1 is fine."""

    def __init__(self) -> None:
        self.polls: dict[int, int] = {1: 0, 2: 0}
        self.active: set[int] = set()

    async def poll(self, channel: ChannelSettings, channel_id: int) -> PollReport:
        self.polls[channel_id] += 1
        if channel_id == 2:
            return PollReport(ok=False, retry_in=timedelta(seconds=0.05))
        return PollReport(ok=True)


async def test_a_poll_due_sooner_than_the_loop_looks_again_wakes_it() -> None:
    """The loop sleeps until the next poll falls due (at most 5 s, to look for clock steps); a
    poll that ends and is due again before that wakes it, and is not held to that sleep."""
    poller = RetryingPoller()
    scheduler = PollScheduler(
        poller,  # type: ignore[arg-type]
        every(timedelta(hours=1), 1, 2),
        jitter=timedelta(0),
        clock=utcnow,
    )
    scheduler.start()
    try:
        # retried every 50 ms: without the wake, the second try would wait out the loop's 5 s
        await until(lambda: poller.polls[2] >= 5, "channel 2 to be retried", timeout=3)
        assert poller.polls[1] == 1
    finally:
        await scheduler.shutdown(grace=1)


async def test_polls_go_on_while_the_wall_clock_steps_back_and_forward() -> None:
    clock = SteppedClock()
    poller = CountingPoller()
    scheduler = PollScheduler(
        poller,  # type: ignore[arg-type]
        every(timedelta(seconds=0.05), 1),
        jitter=timedelta(0),
        clock=clock,
    )
    scheduler.start()
    try:
        for offset in (timedelta(days=-1), timedelta(0), timedelta(days=30), timedelta(0)):
            clock.offset = offset
            before = poller.polls
            await until(lambda: poller.polls >= before + 3, f"polls at {offset}")  # noqa: B023
        assert scheduler.health() is None
    finally:
        await scheduler.shutdown(grace=1)


def test_the_clock_watch_notices_steps_not_slewing() -> None:
    clocks = Clocks()
    watch = ClockWatch(clocks.wall, clocks.mono)
    clocks.advance(5)
    clocks.step(timedelta(milliseconds=3))  # NTP slewing over 5 s is far less than this
    assert watch.check() is None
    clocks.advance(5)
    clocks.step(timedelta(days=-1))
    assert watch.check() == timedelta(days=-1)
    clocks.advance(25)
    assert watch.check() is None  # measured from the last check, not from the start
    clocks.step(timedelta(days=1))
    assert watch.check() == timedelta(days=1)
    assert watch.steps == 2


async def test_a_clock_step_re_plans_the_housekeeping() -> None:
    clock = SteppedClock()

    async def daily() -> None:
        return None

    scheduler = PollScheduler(
        CountingPoller(),  # type: ignore[arg-type]
        every(timedelta(hours=1), 1),
        jitter=timedelta(0),
        clock=clock,
        daily=daily,
    )
    scheduler.start()
    try:
        # forward: APScheduler reads the real clock, and would drop a run planned in its past
        clock.offset = timedelta(days=30)
        await until(lambda: scheduler.status().clock_steps == 1, "the step to be noticed", 15)
        planned = scheduler.housekeeping_at
        assert planned is not None
        assert abs(planned - (clock() + HOUSEKEEPING_DELAY)) < timedelta(seconds=10)
    finally:
        await scheduler.shutdown(grace=1)


@pytest.mark.parametrize(
    ("intervals", "limit"),
    [
        ([timedelta(hours=6)], timedelta(hours=18)),
        ([timedelta(hours=6), timedelta(hours=1)], timedelta(hours=3)),
        ([timedelta(minutes=1)], timedelta(minutes=15)),  # the floor
        ([], timedelta(minutes=15)),
    ],
)
def test_stall_limit(intervals: list[timedelta], limit: timedelta) -> None:
    assert stall_after(intervals) == limit


def test_the_watchdog_counts_a_due_poll_that_does_not_finish() -> None:
    table = Timetable()
    hour = timedelta(hours=1)
    table.plan({1: hour, 2: hour}, {}, wall=NOW, now=0.0, spread=timedelta(0))
    limit = 3 * 3600
    assert table.take_due(0.0) == [1, 2]
    table.finished(1, 10.0, 3600)
    # channel 2's poll runs (or was never started) and does not finish
    assert table.stalled(limit) is None
    reason = table.stalled(limit + 1)
    assert reason is not None and "1 poll(s)" in reason and str(limit) in reason
    table.finished(2, limit + 2, 3600)
    assert table.stalled(limit + 2) is None
    # channel 1 was due again at 3610 and nothing started it
    assert table.stalled(3610 + limit + 1) is not None
    table.clear()  # a standby schedules nothing and is never stalled
    assert table.stalled(10 * limit) is None


def test_a_platform_pause_is_no_stall() -> None:
    table = Timetable()
    table.plan({1: timedelta(hours=1)}, {}, wall=NOW, now=0.0, spread=timedelta(0))
    table.finished(1, 1.0, 86400, polled=False)  # put off for a day by a throttle
    assert table.stalled(86000) is None
    assert table.last_finished == 0.0  # nothing was polled


def test_the_plan_keeps_rhythm_and_treats_future_times_as_unknown() -> None:
    table = Timetable()
    hour = timedelta(hours=1)
    table.plan(
        {1: hour, 2: hour, 3: hour, 4: hour},
        {1: NOW - timedelta(minutes=20), 2: NOW - timedelta(hours=2), 3: NOW + timedelta(days=30)},
        wall=NOW,
        now=100.0,
        spread=timedelta(seconds=40),
    )
    assert table.take_due(100.0 + 30) == [2, 3, 4]  # spread over 30 s (index / 4)
    assert table.next_due() == 100.0 + 40 * 60  # rhythm kept: 40 minutes on
    # a wait read off a wall clock that stepped is capped at 5 × the interval (or 2 days)
    table.finished(1, 200.0, 30 * 86400)
    assert table.next_due() == 200.0 + 2 * 86400


async def test_healthz_fails_with_the_reason_when_a_due_poll_hangs() -> None:
    clocks = Clocks()
    poller = HangingPoller()
    scheduler = PollScheduler(
        poller,  # type: ignore[arg-type]
        every(timedelta(minutes=10), 1),
        jitter=timedelta(0),
        clock=clocks.wall,
        monotonic=clocks.mono,
    )
    scheduler.start()
    app = build_app(
        registry=CollectorRegistry(),
        snapshot=no_views,
        live=scheduler.health,
        ready=ready,
        clock=clocks.wall,
    )
    http: TestClient[Any, Any] = TestClient(TestServer(app))
    await http.start_server()
    try:
        await asyncio.wait_for(poller.started.wait(), 10)
        clocks.advance(30 * 60)  # the limit: max(3 × 10 minutes, 15 minutes)
        assert (await http.get("/healthz")).status == 200
        clocks.advance(1)
        response = await http.get("/healthz")
        assert response.status == 503
        assert "polling stalled" in await response.text()
    finally:
        await http.close()
        await scheduler.shutdown(grace=0.05)


def test_the_heartbeat_is_exported_only_while_polling() -> None:
    clocks = Clocks()
    scheduler = PollScheduler(
        CountingPoller(),  # type: ignore[arg-type]
        every(timedelta(hours=6), 1, 2),
        jitter=timedelta(0),
        clock=clocks.wall,
        monotonic=clocks.mono,
    )
    registry = CollectorRegistry()
    registry.register(PollingCollector(scheduler.status))
    name = "channel_monitor_last_poll_completed_timestamp_seconds"
    assert registry.get_sample_value(name) is None  # standing by
    assert registry.get_sample_value("channel_monitor_clock_steps_total") == 0
    began = clocks.wall()
    scheduler.schedule({})
    clocks.advance(60)
    clocks.step(timedelta(days=-1))  # the heartbeat is measured on the monotonic clock
    assert registry.get_sample_value(name) == (began - timedelta(days=1)).timestamp()
    assert registry.get_sample_value("channel_monitor_poll_stall_after_seconds") == 18 * 3600
    scheduler.unschedule()
    assert registry.get_sample_value(name) is None


def test_next_polls_are_the_plan_on_the_wall_clock_and_empty_on_a_standby() -> None:
    clocks = Clocks()
    scheduler = PollScheduler(
        CountingPoller(),  # type: ignore[arg-type]
        every(timedelta(hours=6), 1, 2),
        jitter=timedelta(0),
        clock=clocks.wall,
        monotonic=clocks.mono,
    )
    assert scheduler.next_polls() == {}  # standing by: nothing planned
    scheduler.schedule({1: NOW - timedelta(hours=2)})  # 2 is due now, 1 keeps its rhythm
    assert scheduler.next_polls() == {1: NOW + timedelta(hours=4), 2: NOW}
    clocks.advance(3600)
    clocks.step(timedelta(days=-1))  # a step moves the plan's wall-clock reading, not the plan
    assert scheduler.next_polls()[1] == NOW + timedelta(hours=4) - timedelta(days=1)
    scheduler.unschedule()
    assert scheduler.next_polls() == {}
