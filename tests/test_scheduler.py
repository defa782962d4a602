"""The scheduler drains polls in flight on shutdown instead of cancelling them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from monitor.jobs import PollReport, utcnow
from monitor.scheduler import PollScheduler
from monitor.settings import ChannelSettings, Policy


class SlowPoller:
    """Stands in for the Poller: each poll waits until the test lets it finish."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.finished = 0
        self.cancelled = 0

    async def poll(self, channel: ChannelSettings, channel_id: int) -> PollReport:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
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
