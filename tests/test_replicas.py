"""A daemon's share of the channels (``monitor.replicas``): shards taken are planned from their
stored polls, shards let go only once their polls in flight are done, a lost lock session stops
every poll at once, and what is exported follows what is held."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from monitor.jobs import PollReport, utcnow
from monitor.leader import SHARDS, Standing, shard_of
from monitor.metrics import Instruments
from monitor.replicas import Share
from monitor.scheduler import PollScheduler
from monitor.settings import ChannelSettings, Policy


def channels_in_two_shards() -> tuple[ChannelSettings, ChannelSettings]:
    """Two channels whose keys fall into different shards."""
    found: dict[int, ChannelSettings] = {}
    for n in range(100):
        channel = ChannelSettings(
            "Gemeente A", "rss", f"https://a.example/{n}.rss", Policy(), timedelta(hours=1)
        )
        found.setdefault(shard_of(channel.key), channel)
        if len(found) == 2:
            first, second = found.values()
            return first, second
    raise AssertionError("100 channels in one shard")


A, B = channels_in_two_shards()
SA, SB = shard_of(A.key), shard_of(B.key)


class Leases:
    """Leases the test sets by hand; ``check`` may be held up to let something happen during it."""

    shards = SHARDS

    def __init__(self) -> None:
        self.standing = Standing(frozenset(), frozenset(), False, 1, 1)
        self.released: list[tuple[frozenset[int], int]] = []
        self.closed = False
        self.checking = threading.Event()  # set while ``check`` is held up
        self.go_on = threading.Event()
        self.go_on.set()

    def hold(self, *shards: int, extra: Collection[int] = (), coordinator: bool = False) -> None:
        generation = self.standing.generation
        self.standing = Standing(frozenset(shards), frozenset(extra), coordinator, 2, generation)

    def check(self) -> Standing:
        standing = self.standing
        self.checking.set()
        self.go_on.wait(10)
        self.checking.clear()
        return standing

    def release(self, shards: Collection[int], generation: int) -> None:
        self.released.append((frozenset(shards), generation))

    def close(self) -> None:
        self.closed = True


class Poller:
    """Stands in for the Poller: each poll waits until the test lets it finish."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.finish = asyncio.Event()
        self.forgotten: list[int] = []

    async def poll(self, channel: ChannelSettings, channel_id: int) -> PollReport:
        self.started.append(channel_id)
        await self.finish.wait()
        return PollReport(ok=True)

    def forget(self, channel_ids: Collection[int]) -> None:
        self.forgotten.extend(channel_ids)


class Store:
    def __init__(self) -> None:
        self.last: dict[int, datetime] = {}

    def last_successful_polls(self) -> dict[int, datetime]:
        return dict(self.last)


async def direct(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def share(
    leases: Leases,
    poller: Poller,
    store: Store,
    channels: list[tuple[ChannelSettings, int]] | None = None,
) -> tuple[Share, PollScheduler, Instruments]:
    channels = channels or [(A, 1), (B, 2)]
    scheduler = PollScheduler(poller, channels, jitter=timedelta(0), clock=utcnow)  # type: ignore[arg-type]
    instruments = Instruments(CollectorRegistry(), ["rss"])
    kept = Share(
        leases,
        channels,
        scheduler=scheduler,
        poller=poller,  # type: ignore[arg-type]
        store=store,  # type: ignore[arg-type]
        db=direct,
        instruments=instruments,
    )
    return kept, scheduler, instruments


async def until(condition: Callable[[], object], what: str) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_shard_is_let_go_only_once_its_poll_in_flight_is_done() -> None:
    leases, poller, store = Leases(), Poller(), Store()
    kept, scheduler, instruments = share(leases, poller, store)
    scheduler.start(poll=False)
    try:
        leases.hold(SA, SB, coordinator=True)
        await kept.check()
        assert kept.exported()[1] == {1, 2}
        assert kept.coordinates.is_set()
        assert instruments.shards_held._value.get() == 2
        await until(lambda: sorted(poller.started) == [1, 2], "both polled (never polled: due)")

        leases.hold(SA, SB, extra=[SB])  # a new daemon came: B's shard is to go to it
        await kept.check()
        assert not kept.coordinates.is_set()
        assert scheduler.scheduled() == {1, 2}  # B's poll is still in flight
        await asyncio.sleep(0.1)
        assert leases.released == [], "let go while its poll was in flight"
        assert kept.exported()[1] == {1, 2}  # still held: still exported here

        poller.finish.set()
        await until(lambda: leases.released, "B's shard let go")
        assert leases.released == [(frozenset({SB}), 1)]
        assert 2 not in scheduler.scheduled()
        assert kept.exported()[1] == {1}
        assert instruments.shards_held._value.get() == 1
        assert instruments.leader._value.get() == 1
    finally:
        poller.finish.set()
        await scheduler.shutdown(grace=1)


async def test_a_shard_taken_over_is_planned_from_its_last_stored_poll() -> None:
    leases, poller, store = Leases(), Poller(), Store()
    kept, scheduler, _ = share(leases, poller, store)
    store.last = {2: utcnow() - timedelta(minutes=10)}  # the other daemon polled B 10 min ago
    scheduler.start(poll=False)
    try:
        leases.hold(SB)
        await kept.check()
        assert poller.forgotten == [2]  # its context is read again from the store
        due = scheduler.next_polls()[2] - utcnow()
        assert timedelta(minutes=49) < due <= timedelta(minutes=50)
        assert 1 not in scheduler.scheduled()
    finally:
        poller.finish.set()
        await scheduler.shutdown(grace=1)


async def test_a_shard_let_go_while_the_leases_are_checked_is_not_planned_again() -> None:
    """The check reads the leases in a thread; a shard let go meanwhile is in what it read."""
    leases, poller, store = Leases(), Poller(), Store()
    kept, scheduler, _ = share(leases, poller, store)
    scheduler.start(poll=False)
    try:
        leases.hold(SA, SB)
        await kept.check()
        await until(lambda: sorted(poller.started) == [1, 2], "both polled")
        leases.hold(SA, SB, extra=[SB])
        await kept.check()  # B's shard drains

        leases.go_on.clear()  # the next check reads the leases as they are, then waits
        checking = asyncio.create_task(kept.check())
        await until(leases.checking.is_set, "the check to read the leases")
        poller.finish.set()  # B's poll ends: its shard is let go while the check waits
        await until(lambda: leases.released, "B's shard let go")
        leases.go_on.set()
        await checking
        assert 2 not in scheduler.scheduled(), "a shard let go was planned again"
        assert leases.released == [(frozenset({SB}), 1)]
        assert kept.exported()[1] == {1}
    finally:
        leases.go_on.set()
        poller.finish.set()
        await scheduler.shutdown(grace=1)


async def test_a_lost_lock_session_stops_every_poll_at_once() -> None:
    leases, poller, store = Leases(), Poller(), Store()
    kept, scheduler, instruments = share(leases, poller, store)
    scheduler.start(poll=False)
    try:
        leases.hold(SA, SB, coordinator=True)
        await kept.check()
        await until(lambda: sorted(poller.started) == [1, 2], "both polled")
        leases.hold(SA, SB, extra=[SB], coordinator=True)
        await kept.check()  # B's shard drains: its poll is in flight
        # the connection broke: a new session (generation 2) that holds nothing yet
        leases.standing = Standing(frozenset(), frozenset(), False, 2, 2)
        await kept.check()
        assert scheduler.scheduled() <= {1, 2}  # polls in flight may end; none is planned
        assert scheduler.next_polls() == {}
        assert kept.exported()[1] == frozenset()
        assert not kept.coordinates.is_set()
        assert instruments.leader._value.get() == 0
        poller.finish.set()
        await asyncio.sleep(0.1)
        assert leases.released == [], "let go of a shard of a session that has ended"
    finally:
        poller.finish.set()
        await scheduler.shutdown(grace=1)
        await kept.close()
    assert leases.closed


async def test_first_polls_follow_the_configuration_order_whatever_the_shards() -> None:
    """Due polls start in configuration order (spread over ``jitter``), as with one daemon:
    the order of the shards says nothing about which channel should go first."""
    channels = [
        (
            ChannelSettings(
                f"Gemeente {n}", "rss", f"https://{n}.example/rss", Policy(), timedelta(hours=1)
            ),
            n,
        )
        for n in range(1, 13)
    ]
    shards = [shard_of(c.key) for c, _ in channels]
    assert shards != sorted(shards)  # the shards' order is not the configuration's
    leases, poller, store = Leases(), Poller(), Store()
    kept, scheduler, _ = share(leases, poller, store, channels)
    scheduler.start(poll=False)
    try:
        leases.hold(*shards)
        await kept.check()
        await until(lambda: len(poller.started) == len(channels), "every channel polled")
        assert poller.started == [n for _, n in channels]
    finally:
        poller.finish.set()
        await scheduler.shutdown(grace=1)
