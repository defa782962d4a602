"""Channel polls on the monotonic clock, staggered, jittered, with backoff on failure.

APScheduler 3.x plans on the wall clock: ``AsyncIOScheduler`` sleeps ``next_run_time - now``
seconds, so a wall clock stepped back a day sleeps a day, and a run time computed while the
clock ran ahead is kept after it is set right. Channel polls therefore run from a loop of our own
on the event loop's monotonic clock (``monitor.timetable``); APScheduler keeps the daily
housekeeping, which is re-planned whenever the loop notices a step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.jobs import Poller, PollReport
from monitor.settings import ChannelSettings
from monitor.timetable import ClockWatch, PollingStatus, Timetable

log = logging.getLogger("channel_monitor.scheduler")

START_SPREAD = timedelta(seconds=30)  # first polls after a start are spread over this at most
RESUME_SPREAD = timedelta(seconds=30)  # polls resuming after a pause are spread over this
MAX_DEFERRAL = timedelta(days=1)  # a platform's pause, read off the wall clock, at most
CLOCK_CHECK = 5.0  # seconds: the loop wakes at least this often to look for clock steps
TICK = 0.02
"""Seconds the loop sleeps at least between two looks at the timetable, unless woken (a plan
changed): polls due within it start together, up to 20 ms late, so at thousands of channels the
loop wakes some 50 times a second rather than once a poll."""
HOUSEKEEPING_DELAY = timedelta(minutes=10)  # after a start or a clock step


class PollScheduler:
    """Schedules every channel's polls and drains the ones in flight on shutdown."""

    def __init__(
        self,
        poller: Poller,
        channels: Sequence[tuple[ChannelSettings, int]],
        *,
        jitter: timedelta,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        last_polls: dict[int, datetime] | None = None,
        daily: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._poller = poller
        self._channels = {channel_id: channel for channel, channel_id in channels}
        self._jitter = jitter
        self._clock = clock
        self._monotonic = monotonic
        self._last_polls = last_polls or {}
        self._daily = daily
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._timetable = Timetable()
        self._clock_watch = ClockWatch(clock, monotonic)
        self._wake = asyncio.Event()
        self._wakes_at = -math.inf  # monotonic: when the loop looks at the timetable next
        self._loop: asyncio.Task[None] | None = None
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self.polls_completed = 0
        self.draining = False  # shutting down: no new polls, those in flight may finish

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running) and self._loop is not None and not self._loop.done()

    @property
    def polling(self) -> bool:
        """Whether channel polls are scheduled (this daemon leads the database)."""
        return self._timetable.planned

    @property
    def housekeeping_at(self) -> datetime | None:
        """When the daily housekeeping runs next (None without housekeeping)."""
        job = self._scheduler.get_job("housekeeping")
        return job.next_run_time if job is not None else None

    def start(self, *, poll: bool = True) -> None:
        """Start; with ``poll`` also schedule every channel. Must run inside the event loop."""
        if poll:
            self.schedule(self._last_polls)
        if self._daily is not None:
            self._scheduler.add_job(
                self._housekeeping,
                IntervalTrigger(hours=24, timezone="UTC"),
                id="housekeeping",
                next_run_time=self._clock() + HOUSEKEEPING_DELAY,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
            )
        self._scheduler.start()
        self._loop = asyncio.create_task(self._run_loop(), name="poll-scheduler")

    def schedule(
        self, last_polls: dict[int, datetime], channel_ids: Collection[int] | None = None
    ) -> None:
        """Plan the polls of these channels (None: every one), keeping each channel's rhythm
        from its last successful poll, and spreading the ones that are due over the first
        seconds."""
        wanted = self._channels.keys() if channel_ids is None else channel_ids
        intervals = {i: self._channels[i].poll_interval for i in wanted if i in self._channels}
        self._timetable.plan(
            intervals,
            last_polls,
            wall=self._clock(),
            now=self._monotonic(),
            spread=min(self._jitter, START_SPREAD),
        )
        self._wake.set()
        log.info("scheduled %d channels", len(intervals))

    def unschedule(self, channel_ids: Collection[int] | None = None) -> None:
        """Stop scheduling polls of these channels (None: of any; polls in flight finish);
        housekeeping stays."""
        self._timetable.clear(channel_ids)
        count = len(self._channels) if channel_ids is None else len(channel_ids)
        log.info("unscheduled %d channels", count)

    def scheduled(self) -> set[int]:
        """The channels polled here: planned, or with a poll in flight."""
        return set(self._timetable.due()) | set(self._in_flight)

    async def drain(self, channel_ids: Collection[int]) -> None:
        """Wait until no poll of these channels is in flight (unschedule them first)."""
        wanted = set(channel_ids)
        running = [task for i, task in self._in_flight.items() if i in wanted]
        if running:
            await asyncio.wait(running)

    def health(self) -> str | None:
        """Why this daemon is not healthy (for ``/healthz``), or None."""
        if not self.running:
            return "scheduler not running"
        return self._timetable.stalled(self._monotonic())

    def next_polls(self) -> dict[int, datetime]:
        """When each channel is polled next, on today's wall clock; empty on a standby."""
        wall, now = self._clock(), self._monotonic()
        return {i: wall + timedelta(seconds=due - now) for i, due in self._timetable.due().items()}

    def status(self) -> PollingStatus:
        """The scheduler's own state, for ``/metrics``."""
        last = self._timetable.last_finished
        completed = None
        if last is not None:  # a monotonic instant on today's wall clock
            completed = self._clock() - timedelta(seconds=self._monotonic() - last)
        return PollingStatus(
            polling=self.polling,
            last_completed=completed,
            stall_after=self._timetable.stall_after,
            clock_steps=self._clock_watch.steps,
        )

    async def _run_loop(self) -> None:
        """Start every poll that falls due; look for clock steps at least every few seconds."""
        while not self.draining:
            self._check_clock()
            now = self._monotonic()
            for channel_id in self._timetable.take_due(now):
                task = asyncio.create_task(self._run(channel_id), name=f"poll-{channel_id}")
                self._in_flight[channel_id] = task
            due = self._timetable.next_due()
            timeout = CLOCK_CHECK if due is None else min(CLOCK_CHECK, max(TICK, due - now))
            self._wakes_at = now + timeout
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # not wait_for: see Judgements.run
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _check_clock(self) -> None:
        step = self._clock_watch.check()
        if step is None:
            return
        log.warning(
            "the wall clock stepped %s by %s; polls keep their schedule (it runs on the "
            "monotonic clock), housekeeping is re-planned",
            "forward" if step > timedelta(0) else "back",
            abs(step),
        )
        if self._scheduler.get_job("housekeeping") is not None:
            self._scheduler.modify_job(
                "housekeeping", next_run_time=self._clock() + HOUSEKEEPING_DELAY
            )

    async def _housekeeping(self) -> None:
        assert self._daily is not None
        try:
            await self._daily()
        except Exception:
            log.exception("housekeeping failed")

    async def _run(self, channel_id: int) -> None:
        channel = self._channels[channel_id]
        interval = channel.poll_interval.total_seconds()
        wait, polled = interval, True
        try:
            report = await self._poller.poll(channel, channel_id)
            wait, polled = self._next_wait(channel, report)
        except Exception:
            # one channel's trouble must not end its polls: try again at the next interval
            log.exception("poll job failed for channel %s", channel_id)
        finally:
            del self._in_flight[channel_id]
            due = self._timetable.finished(channel_id, self._monotonic(), wait, polled=polled)
            if due is not None and due < self._wakes_at:  # sooner than the loop looks again
                self._wake.set()

    def _next_wait(self, channel: ChannelSettings, report: PollReport) -> tuple[float, bool]:
        """Seconds until the channel's next poll, and whether this one was made."""
        if report.deferred_until is not None:
            # the platform asked for a pause: its end is a wall-clock time, read once, here
            pause = min(report.deferred_until - self._clock(), MAX_DEFERRAL)
            # spread the resumed polls so they do not all hit the platform at once
            spread = max(self._jitter, RESUME_SPREAD) * random.random()  # noqa: S311
            return (pause + spread).total_seconds(), False
        self.polls_completed += 1
        if report.retry_in is not None:
            return report.retry_in.total_seconds(), True
        jitter = self._jitter.total_seconds() * random.random()  # noqa: S311
        return channel.poll_interval.total_seconds() + jitter, True

    async def shutdown(self, grace: float) -> None:
        """Stop scheduling and end the polls in flight: those still waiting for a slot are
        abandoned at once, those running get ``grace`` seconds to finish, then are abandoned
        too. One line says how many finished and how many were abandoned. An abandoned poll
        leaves nothing half-written (a poll is stored whole or not at all) and is polled again
        at the next start."""
        self.draining = True
        self._wake.set()
        if self._scheduler.running:
            self._scheduler.pause()
        if self._loop is not None:
            await asyncio.gather(self._loop, return_exceptions=True)
        pending = {i: task for i, task in self._in_flight.items() if not task.done()}
        waiting = [task for i, task in pending.items() if i not in self._poller.active]
        running = [task for i, task in pending.items() if i in self._poller.active]
        for task in waiting:  # no poll starts once stopping: each would only be cut short
            task.cancel()
        late: set[asyncio.Task[None]] = set()
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
        if waiting or late:
            await asyncio.wait([*waiting, *late], timeout=1)
        finished = sum(1 for task in running if task.done() and not task.cancelled())
        log.info(
            "stopped polling: %d polls in flight finished, %d abandoned (%d waiting for a slot, "
            "%d still running after %g s); the abandoned are polled again at the next start",
            finished,
            len(pending) - finished,
            len(waiting),
            len(running) - finished,
            grace,
        )
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
