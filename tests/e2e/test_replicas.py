"""Three daemons on one PostgreSQL database share the channels, and one of them dying costs none.

Real ``channel-monitor run`` processes, started together on a new database, against 60 feeds
on a fake server that logs when each feed was asked for. Each channel is polled by one daemon
(the request log: no feed is asked for twice within its interval, except once right after the
kill, for a poll the killed daemon made but had not stored); each channel's series come from one
daemon (the three scrapes add up to each series once); each notification reaches the webhook
once; and after a ``kill -9`` the others take over its shards within seconds and poll every
channel again within two intervals.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from aiohttp import web

from monitor.fakes.feeds import FeedServer, FeedSpec
from monitor.leader import SHARDS
from tests.conftest import NO_POSTGRES, POSTGRES_URL
from tests.e2e.daemon import Daemon, value

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

INTERVAL = 6.0  # seconds: every channel's poll_interval
CHANNELS = 60
INACTIVE = (3, 17, 31, 45)  # channels whose newest post is 40 days old
TAKEOVER_LIMIT = 30.0  # seconds: a killed daemon's shards are held by the others within this
SLACK = 0.3  # seconds a poll may come early, measured here, to what the daemon measured

Samples = dict[str, list[tuple[dict[str, str], float]]]


def path(index: int) -> str:
    return f"/feed-{index:02d}"


def feeds() -> dict[str, FeedSpec]:
    now = datetime.now(UTC)
    specs = {}
    for index in range(CHANNELS):
        newest = 40 if index in INACTIVE else 0.5
        posts = [now - timedelta(days=newest + 2 * n) for n in range(10)]
        specs[path(index)] = FeedSpec(posts=posts, title=f"Nieuws {index}")
    return specs


@pytest.fixture
def database() -> Iterator[str]:
    """A new, empty PostgreSQL database of its own (advisory locks are per database)."""
    if POSTGRES_URL is None:
        pytest.skip(NO_POSTGRES)
    name = f"cm_replicas_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Webhook:
    """A webhook on 127.0.0.1 that takes every message and keeps it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._take)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _take(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        return web.Response(text="ok")

    def event_ids(self) -> list[int]:
        return [int(event["id"]) for body in self.bodies for event in body["events"]]


def write_config(tmp_path: Path, database: str, base: str, hook: str) -> Path:
    organisations = []
    for org in range(3):
        urls = ", ".join(f'"{base}{path(i)}"' for i in range(org, CHANNELS, 3))
        organisations.append(f'[[organisation]]\nname = "Gemeente {org}"\nrss = [{urls}]\n')
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[monitor]
database = "{database}"
poll_interval = "{INTERVAL:.0f}s"
jitter = "0s"

[policy]
inactive_after = "30d"
dormant_after = "365d"

[notify]
evaluate_every = "1s"

[[notify.webhook]]
name = "team"
url = "{hook}"

"""
        + "\n".join(organisations)
    )
    return config


def held(samples: Samples) -> int:
    return int(value(samples, "channel_monitor_shards_held") or 0)


def exported(samples: Samples) -> set[str]:
    """The paths of the channels whose series this daemon exports."""
    return {
        urlsplit(labels["channel"]).path
        for labels, _ in samples.get("channel_monitor_channel_info", [])
    }


def state_series(samples: Samples) -> list[tuple[str, ...]]:
    return [
        (labels["organisation"], labels["platform"], labels["channel"], labels["state"])
        for labels, _ in samples.get("channel_monitor_state", [])
    ]


async def scrape_all(daemons: list[Daemon]) -> list[Samples]:
    return list(await asyncio.gather(*(d.metrics() for d in daemons)))


async def shared_out(daemons: list[Daemon]) -> list[Samples] | None:
    """Every daemon's scrape, once the shards are all held and evenly shared (else None)."""
    scrapes = await scrape_all(daemons)
    counts = [held(s) for s in scrapes]
    fair = -(-SHARDS // len(daemons))
    if sum(counts) != SHARDS or max(counts) > fair:
        return None
    again = await scrape_all(daemons)  # and not moving meanwhile
    same = [(held(s), exported(s)) for s in again] == [(held(s), exported(s)) for s in scrapes]
    return scrapes if same else None


def assert_each_series_once(scrapes: list[Samples]) -> None:
    """Summed over the replicas, each channel's state series is there exactly once."""
    series = Counter(s for samples in scrapes for s in state_series(samples))
    channels = {channel for (_, _, channel, _) in series}
    assert len(channels) == CHANNELS
    assert set(series.values()) == {1}, [s for s, n in series.items() if n > 1]
    states = Counter(channel for (_, _, channel, _) in series)
    assert len(set(states.values())) == 1  # every channel with all its state series
    owners = [exported(s) for s in scrapes]
    assert sum(len(o) for o in owners) == CHANNELS
    assert all(owners), "a replica exports no channel"


async def all_sent(daemon: Daemon, kinds: Counter[str]) -> list[dict[str, Any]] | None:
    """The event log, once it holds ``kinds`` (a count by kind) and all of it was sent."""
    response = await daemon.get("/api/events", params={"limit": 1000})
    response.raise_for_status()
    found = list(response.json())
    if Counter(e["kind"] for e in found) != kinds or any(e["status"] != "sent" for e in found):
        return None
    return found


async def coordinator(daemons: list[Daemon]) -> Daemon | None:
    scrapes = await scrape_all(daemons)
    ones = [
        d for d, s in zip(daemons, scrapes, strict=True) if value(s, "channel_monitor_coordinator")
    ]
    return ones[0] if len(ones) == 1 else None


async def test_three_replicas_share_the_channels_and_take_over_from_a_killed_one(
    tmp_path: Path, database: str
) -> None:
    server, webhook = FeedServer(feeds()), Webhook()
    base = await server.start()
    hook = await webhook.start()
    config = write_config(tmp_path, database, base, hook)
    daemons = [Daemon(config) for _ in range(3)]
    every_path = {path(i) for i in range(CHANNELS)}
    try:
        for daemon in daemons:  # together, on a new database: one migrates, the others wait
            daemon.start()
        await asyncio.gather(*(d.wait_ready(60) for d in daemons))
        first = daemons[0]
        scrapes = await first.until(lambda: shared_out(daemons), 90, "the shards to be shared")
        await first.until(
            lambda: every_path <= {hit.key for hit in server.hits}, 30, "every channel polled"
        )
        assert_each_series_once(scrapes)
        for daemon in daemons:  # the pages and the API show every channel, on every replica
            assert len(await daemon.channels()) == CHANNELS

        # the four inactive channels are told about once, by whichever daemon sends
        inactive = Counter({"state_changed": len(INACTIVE)})
        logged = await first.until(lambda: all_sent(first, inactive), 60, "notifications sent")
        assert sorted(webhook.event_ids()) == sorted(e["id"] for e in logged)

        # kill -9 the daemon that sends notifications; the other two take over
        victim = await first.until(lambda: coordinator(daemons), 30, "one coordinator")
        survivors = [d for d in daemons if d is not victim]
        orphaned = exported(await victim.metrics())
        assert orphaned
        killed_at = time.monotonic()
        victim.kill()

        async def taken_over() -> list[Samples] | None:
            scrapes = await scrape_all(survivors)
            return scrapes if sum(held(s) for s in scrapes) == SHARDS else None

        scrapes = await survivors[0].until(taken_over, TAKEOVER_LIMIT, "the takeover")
        taken_at = time.monotonic()
        takeover = taken_at - killed_at
        assert takeover <= TAKEOVER_LIMIT
        await survivors[0].until(lambda: coordinator(survivors), 30, "a new coordinator")

        # a post on an inactive channel: its recovery is told once, by the new coordinator
        now = datetime.now(UTC)
        server.set(path(INACTIVE[0]), FeedSpec(posts=[now - timedelta(minutes=5)]))
        recovered = Counter({"state_changed": len(INACTIVE), "recovered": 1})
        logged = await survivors[0].until(
            lambda: all_sent(survivors[0], recovered), 60, "the recovery sent"
        )
        window_end = taken_at + 2 * INTERVAL + 1.0
        await survivors[0].until(lambda: time.monotonic() > window_end, 60, "two intervals")
        scrapes = await survivors[0].until(lambda: shared_out(survivors), 30, "a steady share")
        assert_each_series_once(scrapes)

        # every channel was polled again within two intervals of the takeover
        polled_again = {hit.key for hit in server.hits if taken_at < hit.at <= window_end}
        assert polled_again >= every_path, sorted(every_path - polled_again)

        # no channel was polled twice within one interval: only a poll of the killed daemon
        # that it made but never stored may be made again by the one that took its channel over
        times: dict[str, list[float]] = {}
        for hit in server.hits:
            times.setdefault(hit.key, []).append(hit.at)
        early, gaps = [], []
        for key, seen in times.items():
            excused = key in orphaned  # once: by the daemon that took the channel over
            for before, after in pairwise(seen):
                gaps.append(after - before)
                # the first poll there after the kill (the log stamps a request as the test's
                # loop reads it, so one the killed daemon sent may be stamped after the kill)
                taking_over, excused = excused and after > killed_at, excused and after <= killed_at
                if after - before < INTERVAL - SLACK and not taking_over:
                    early.append((key, round(after - before, 2)))
        assert not early, early

        # every notification reached the webhook exactly once, the recovery included
        delivered = webhook.event_ids()
        assert sorted(delivered) == sorted(e["id"] for e in logged)
        assert len(delivered) == len(set(delivered)) == len(INACTIVE) + 1

        for daemon in survivors:
            assert daemon.stop() == 0, daemon.log
        print(  # the figures the README quotes
            f"\ntakeover after kill -9: {takeover:.1f} s; polls: {len(server.hits)}; "
            f"shortest gap between two polls of one channel: {min(gaps):.2f} s "
            f"(interval {INTERVAL:.0f} s)"
        )
    finally:
        for daemon in daemons:
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.kill()
        await webhook.stop()
        await server.stop()
