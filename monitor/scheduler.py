"""One APScheduler interval job per channel, staggered, jittered, with backoff on failure."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.jobs import Poller
from monitor.settings import ChannelSettings

log = logging.getLogger("channel_monitor.scheduler")

START_SPREAD = timedelta(seconds=30)  # first polls after a start are spread over this at most
RESUME_SPREAD = timedelta(seconds=30)  # polls resuming after a pause are spread over this


class PollScheduler:
    """Schedules every channel's polls and drains the ones in flight on shutdown."""

    def __init__(
        self,
        poller: Poller,
        channels: Sequence[tuple[ChannelSettings, int]],
        *,
        jitter: timedelta,
        clock: Callable[[], datetime],
        last_polls: dict[int, datetime] | None = None,
        daily: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._poller = poller
        self._channels = {channel_id: channel for channel, channel_id in channels}
        self._jitter = jitter
        self._clock = clock
        self._last_polls = last_polls or {}
        self._daily = daily
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._in_flight: set[asyncio.Task[object]] = set()
        self.polls_completed = 0
        self.draining = False  # shutting down: no new polls, those in flight may finish

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    @property
    def polling(self) -> bool:
        """Whether channel jobs are scheduled (this daemon leads the database)."""
        return any(job.id != "housekeeping" for job in self._scheduler.get_jobs())

    def start(self, *, poll: bool = True) -> None:
        """Start; with ``poll`` also schedule every channel. Must run inside the event loop."""
        if poll:
            self.schedule(self._last_polls)
        if self._daily is not None:
            self._scheduler.add_job(
                self._housekeeping,
                IntervalTrigger(hours=24, timezone="UTC"),
                id="housekeeping",
                next_run_time=self._clock() + timedelta(minutes=10),
                max_instances=1,
                coalesce=True,
            )
        self._scheduler.start()

    def schedule(self, last_polls: dict[int, datetime]) -> None:
        """Add (or replace) one job per channel, keeping each channel's rhythm from its last
        successful poll, and spreading the ones that are due over the first seconds."""
        now = self._clock()
        count = max(1, len(self._channels))
        spread = min(self._jitter, START_SPREAD)
        for index, (channel_id, channel) in enumerate(self._channels.items()):
            interval = channel.poll_interval
            last = last_polls.get(channel_id)
            if last is not None and last + interval > now:
                first = last + interval  # polled recently: keep its rhythm across restarts
            else:
                first = now + spread * (index / count)
            self._scheduler.add_job(
                self._run,
                IntervalTrigger(
                    seconds=interval.total_seconds(),
                    jitter=int(self._jitter.total_seconds()) or None,
                    timezone="UTC",
                ),
                args=(channel_id,),
                id=str(channel_id),
                name=f"{channel.platform}:{channel.label}",
                next_run_time=first,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval.total_seconds() / 2)),
                replace_existing=True,
            )
        log.info("scheduled %d channels", len(self._channels))

    def unschedule(self) -> None:
        """Stop scheduling channel polls (polls in flight finish); housekeeping stays."""
        for channel_id in self._channels:
            job = self._scheduler.get_job(str(channel_id))
            if job is not None:
                job.remove()
        log.info("unscheduled %d channels", len(self._channels))

    async def _housekeeping(self) -> None:
        assert self._daily is not None
        try:
            await self._daily()
        except Exception:
            log.exception("housekeeping failed")

    async def _run(self, channel_id: int) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            channel = self._channels[channel_id]
            report = await self._poller.poll(channel, channel_id)
            when = None
            if report.deferred_until is not None:
                # spread the resumed polls so they do not all hit the platform at once
                spread = max(self._jitter, RESUME_SPREAD)
                when = report.deferred_until + spread * random.random()  # noqa: S311
            else:
                self.polls_completed += 1
                if report.retry_in is not None:
                    when = self._clock() + report.retry_in
            if (
                when is not None
                and self._scheduler.running
                and self._scheduler.get_job(str(channel_id)) is not None  # still leading
            ):
                self._scheduler.modify_job(str(channel_id), next_run_time=when)
        except Exception:
            # never let one channel's trouble reach APScheduler, which would only log it
            log.exception("poll job failed for channel %s", channel_id)
        finally:
            self._in_flight.discard(task)

    async def shutdown(self, grace: float) -> None:
        """Stop scheduling, give polls in flight ``grace`` seconds, then cancel the rest.

        APScheduler's own shutdown cancels running jobs at once, so it only comes after the
        drain: first pause (no new runs), then wait, then shut down.
        """
        if self._scheduler.running:
            self._scheduler.pause()
        self.draining = True
        pending = {t for t in self._in_flight if not t.done()}
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=1)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
