"""How many polls run at once: per feed host, Mastodon server or app, and in all."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from connectors.base import ChannelRef, Checkpoint, FetchResult, PlatformOptions
from monitor.jobs import Poller, PollReport
from monitor.limits import PollLimits
from monitor.metrics import Instruments
from monitor.pacing import Pacing, shared_credentials
from monitor.redact import Redactor
from monitor.settings import ChannelSettings, Policy
from monitor.storage import Store
from tests.conftest import NOW


class Gate:
    """A connector for any platform: counts its reads running at once, in all and by what
    ``where`` says a read is counted on, and holds every read until released."""

    def __init__(self, where: Callable[[str], str]) -> None:
        self.where = where
        self.running: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.total = self.peak_total = 0
        self.release = asyncio.Event()
        self.changed = asyncio.Condition()

    async def fetch(
        self, channel: ChannelRef, *, since: datetime | None, checkpoint: Checkpoint
    ) -> FetchResult:
        key = self.where(channel.handle)
        async with self.changed:
            self.running[key] += 1
            self.total += 1
            self.peak[key] = max(self.peak[key], self.running[key])
            self.peak_total = max(self.peak_total, self.total)
            self.changed.notify_all()
        await self.release.wait()
        self.running[key] -= 1
        self.total -= 1
        return FetchResult()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), 10)


def host(handle: str) -> str:
    """A feed's host, or a Mastodon account's server."""
    return handle.split("/")[2] if "://" in handle else handle.rsplit("@", 1)[-1]


def poller(
    store: Store,
    gate: Gate,
    concurrency: Mapping[str, int],
    *,
    max_in_flight: int = 64,
    options: Mapping[str, PlatformOptions] | None = None,
    storing: asyncio.Event | None = None,
) -> Poller:
    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        # on the loop itself: every poll started runs on until its read or a limit holds it,
        # so when the test looks, every poll a limit let through is reading
        if storing is not None and fn.__name__ == "record_polls":
            await storing.wait()  # a slow database: polls wait here once read
        return fn(*args)

    apps, tokens = shared_credentials(options or {})
    return Poller(
        connectors=dict.fromkeys(concurrency, gate),  # type: ignore[misc]
        store=store,
        db=db,
        instruments=Instruments(CollectorRegistry(), list(concurrency)),
        redactor=Redactor([]),
        concurrency=concurrency,
        poll_timeout=timedelta(seconds=30),
        pacing=Pacing({}, apps=apps, tokens=tokens),
        clock=lambda: NOW,
        max_in_flight=max_in_flight,
    )


def channels(platform: str, handles: list[str]) -> list[ChannelSettings]:
    return [
        ChannelSettings(f"Gemeente {i}", platform, h, Policy(), timedelta(hours=1))
        for i, h in enumerate(handles)
    ]


def start(store: Store, poll: Poller, chosen: list[ChannelSettings]) -> list[asyncio.Task[Any]]:
    ids = store.sync(sorted({c.organisation for c in chosen}), chosen, NOW)
    return [asyncio.create_task(poll.poll(c, ids[c.key])) for c in chosen]


async def finish(gate: Gate, tasks: list[asyncio.Task[PollReport]]) -> None:
    gate.release.set()
    reports = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert all(r.ok for r in reports)


async def test_feeds_on_a_hundred_hosts_are_read_together_up_to_the_daemon_cap(
    store: Store,
) -> None:
    # the platform's concurrency (4) used to hold every feed of the daemon to 4 at once
    gate = Gate(host)
    feeds = channels("rss", [f"https://gemeente{i}.example/nieuws.rss" for i in range(100)])
    tasks = start(store, poller(store, gate, {"rss": 4}), feeds)
    await gate.until(lambda: gate.total == 64)  # the default max_in_flight
    assert max(gate.peak.values()) == 1
    await finish(gate, tasks)
    assert gate.peak_total == 64


async def test_feeds_of_one_host_keep_to_its_limit_and_wait_without_a_daemon_slot(
    store: Store,
) -> None:
    gate = Gate(host)
    feeds = channels(
        "rss",
        [
            "https://www.drukke-gemeente.example/nieuws.rss",
            "https://www.drukke-gemeente.example/agenda.rss",
            "https://www.drukke-gemeente.example/vacatures.rss",
            "https://www.andere-gemeente.example/nieuws.rss",
        ],
    )
    # one slot per host, two in all: the two feeds waiting for the busy host hold neither
    tasks = start(store, poller(store, gate, {"rss": 1}, max_in_flight=2), feeds)
    await gate.until(lambda: gate.total == 2)
    assert gate.running == {"www.drukke-gemeente.example": 1, "www.andere-gemeente.example": 1}
    await finish(gate, tasks)
    assert gate.peak["www.drukke-gemeente.example"] == 1


async def test_the_daemon_cap_is_never_exceeded(store: Store) -> None:
    gate = Gate(host)
    feeds = channels("rss", [f"https://gemeente{i}.example/nieuws.rss" for i in range(40)])
    mastodon = channels("mastodon", [f"@nieuws@server{i}.example" for i in range(40)])
    poll = poller(store, gate, {"rss": 2, "mastodon": 4}, max_in_flight=7)
    tasks = start(store, poll, feeds + mastodon)
    await gate.until(lambda: gate.total == 7)
    await finish(gate, tasks)
    assert gate.peak_total == 7


async def test_mastodon_channels_share_their_server_s_limit_and_no_other(store: Store) -> None:
    gate = Gate(host)
    accounts = channels(
        "mastodon",
        ["@gemeente@social.example", "@brandweer@social.example", "@politie@other.example"],
    )
    tasks = start(store, poller(store, gate, {"mastodon": 1}), accounts)
    await gate.until(lambda: gate.total == 2)
    assert gate.running == {"social.example": 1, "other.example": 1}
    await finish(gate, tasks)
    assert gate.peak == {"social.example": 1, "other.example": 1}


async def test_facebook_and_instagram_on_one_token_share_one_limit(store: Store) -> None:
    gate = Gate(lambda handle: "graph")
    token = PlatformOptions(access_token="EAAshared")
    options = {"facebook": token, "instagram": token}
    poll = poller(store, gate, {"facebook": 2, "instagram": 3}, options=options)
    pages = channels("facebook", ["gemeente", "brandweer", "politie"])
    accounts = channels("instagram", ["gemeente_ig", "brandweer_ig"])
    tasks = start(store, poll, pages + accounts)
    await gate.until(lambda: gate.total == 2)  # the smaller of the two platforms' limits
    await finish(gate, tasks)
    assert gate.peak_total == 2


def test_what_each_limit_covers() -> None:
    token = PlatformOptions(access_token="EAAshared")
    apps, _ = shared_credentials({"facebook": token, "instagram": token})
    limits = PollLimits({}, max_in_flight=64, apps=apps)
    assert limits.key("rss", "https://www.gemeente.example/rss") == "rss:www.gemeente.example:"
    assert limits.key("rss", "https://www.gemeente.example:8443/rss") == (
        "rss:www.gemeente.example:8443"
    )
    assert limits.key("mastodon", "@nieuws@Social.Example") == "mastodon:social.example"
    assert limits.key("facebook", "gemeente") == limits.key("instagram", "gemeente_ig")
    assert limits.key("linkedin", "12345") == "app:linkedin"
    assert limits.key("bluesky", "gemeente.bsky.social") == "app:bluesky"
    assert limits.key("youtube", "UCabc") == "app:youtube"


async def test_a_poll_queued_for_storing_holds_up_neither_its_host_nor_the_daemon(
    store: Store,
) -> None:
    """A feed's read done, its host's slot is free for the next feed; once the poll is queued
    for storing, the daemon's slot is free too (the group commit's wait holds up no read). The
    queue takes at most ``max_in_flight`` polls, and a poll waiting for room keeps its daemon
    slot: with the database stuck, reads stop at twice ``max_in_flight``."""
    gate, storing = Gate(host), asyncio.Event()
    gate.release.set()  # every read answers at once
    reads = Counter[str]()
    fetch = gate.fetch

    async def counted(channel: ChannelRef, **kwargs: Any) -> FetchResult:
        reads[channel.handle] += 1
        return await fetch(channel, **kwargs)

    gate.fetch = counted  # type: ignore[method-assign]
    feeds = channels("rss", [f"https://www.gemeente.example/{n}.rss" for n in range(6)])
    poll = poller(store, gate, {"rss": 1}, max_in_flight=2, storing=storing)
    tasks = start(store, poll, feeds)
    # two queued (the writer's room), two read and waiting for room with the daemon's slots
    await asyncio.wait_for(_until(lambda: len(reads) == 4), 10)
    for _ in range(20):  # give the fifth feed its chances: it must not have one
        await asyncio.sleep(0)
    assert len(reads) == 4
    assert len(poll.active) == 4 and not any(task.done() for task in tasks)
    storing.set()
    reports = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert all(r.ok for r in reports) and len(reads) == 6


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.001)
