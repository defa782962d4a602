"""The store failing, a channel that cannot be read, and platform values no column holds.

Fetch failure is not inactivity, and neither is a poll we could not record: such a channel keeps
the state of its last recorded poll, shows a failing poll with its reason, and nothing moves
its judgement until a poll is read and stored again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest

from connectors.base import ChannelRef, FetchResult, Post, Profile
from monitor import views
from monitor.http_client import build_client
from monitor.jobs import Poller
from monitor.metrics import ChannelCollector, Instruments
from monitor.records import ChannelRecord, PollOutcome
from monitor.redact import Redactor
from monitor.settings import ChannelSettings, Policy
from monitor.storage import Store
from tests.conftest import NOW

POLICY = Policy(inactive_after=timedelta(minutes=62), dormant_after=timedelta(days=180))
CHANNEL = ChannelSettings("Org", "rss", "https://a.example/rss", POLICY, timedelta(minutes=5))


class FlakyStore(Store):
    """A store whose writes fail while ``failing`` is set, as a full disk or a read-only
    filesystem makes SQLite fail (the driver's own exception, wrapped by SQLAlchemy)."""

    failing = False

    def record_polls(self, polls: Sequence[tuple[int, PollOutcome]]) -> list[int]:
        if self.failing:
            raise sa.exc.OperationalError(
                "INSERT INTO poll ...", {}, Exception("database or disk is full")
            )
        return super().record_polls(polls)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Connector:
    platform = "rss"

    def __init__(self, client: httpx.AsyncClient, clock: Clock) -> None:
        self.client = client
        self.clock = clock

    async def fetch(self, channel: ChannelRef, *, since: Any, checkpoint: Any) -> FetchResult:
        # a channel that posts every poll: new post "now"
        when = self.clock.now - timedelta(minutes=1)
        return FetchResult(posts=(Post(when.isoformat(), when),), profile=Profile(name="A"))

    def public_url(self, channel: ChannelRef) -> str | None:
        return None


def setup(tmp_path: Any) -> tuple[FlakyStore, Poller, Clock, int, CollectorRegistry]:
    store = FlakyStore(f"sqlite:///{tmp_path}/faults.db")
    store.migrate()
    cid = store.sync(["Org"], [CHANNEL], NOW)[CHANNEL.key]
    clock = Clock(NOW)
    client = build_client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    registry = CollectorRegistry()

    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    poller = Poller(
        connectors={"rss": Connector(client, clock)},  # type: ignore[dict-item]
        store=store,
        db=db,
        instruments=Instruments(registry, ["rss"]),
        redactor=Redactor([]),
        concurrency={"rss": 1},
        poll_timeout=timedelta(seconds=5),
        clock=clock,
    )
    return store, poller, clock, cid, registry


def judged(store: Store, poller: Poller, now: datetime) -> views.ChannelView:
    [view] = views.snapshot(store, [CHANNEL], {CHANNEL.key: 1}, now, poller.store_faults)
    return view


async def test_a_poll_the_store_refuses_is_a_failed_poll_and_moves_no_judgement(
    tmp_path: Any,
) -> None:
    store, poller, clock, cid, registry = setup(tmp_path)
    assert cid == 1
    assert (await poller.poll(CHANNEL, cid)).ok
    assert judged(store, poller, clock.now).state.value == "below_target"

    store.failing = True
    for _ in range(3):  # two hours of polls that cannot be recorded
        clock.now += timedelta(minutes=40)
        report = await poller.poll(CHANNEL, cid)
        assert not report.ok and report.store_failed and report.reason == "storage"
        assert report.retry_in is not None
    view = judged(store, poller, clock.now)
    # the channel posted a minute before every poll: silence we failed to record is no silence
    assert view.state.value == "below_target"
    assert view.stale and view.judged_at == NOW  # as of the last recorded poll
    assert view.record.last_poll_ok is False
    assert view.record.last_error_reason == "storage"
    assert view.record.consecutive_failures == 3
    assert "database or disk is full" in (view.record.last_error_detail or "")
    assert poller.store_failing_since == NOW + timedelta(minutes=40)

    sample = registry.get_sample_value
    assert sample("channel_monitor_store_write_ok") == 0
    assert sample("channel_monitor_store_write_errors_total") == 3
    assert sample("channel_monitor_poll_errors_total", {"platform": "rss", "reason": "storage"})

    store.failing = False
    clock.now += timedelta(minutes=40)
    assert (await poller.poll(CHANNEL, cid)).ok
    view = judged(store, poller, clock.now)
    assert view.record.last_poll_ok and not view.stale
    assert poller.store_faults == {} and poller.store_failing_since is None
    assert sample("channel_monitor_store_write_ok") == 1


def record(*, ok: bool, last_success: datetime | None) -> ChannelRecord:
    return ChannelRecord(
        1, "Org", "rss", CHANNEL.label, None, None, None,
        last_poll_at=NOW,
        last_poll_ok=ok,
        last_success_at=last_success,
        last_error_reason=None if ok else "transient",
        last_error_detail=None,
        consecutive_failures=0 if ok else 5,
    )  # fmt: skip


def test_a_failing_channel_keeps_the_state_of_its_last_successful_poll() -> None:
    from monitor.records import PostTime

    policy = Policy(inactive_after=timedelta(days=30))
    settings = ChannelSettings("Org", "rss", "https://a.example/rss", policy, timedelta(hours=6))
    last_read = NOW - timedelta(days=40)
    posts = [PostTime(last_read - timedelta(days=d, hours=1), "post") for d in range(10)]
    failing = views.judge(settings, record(ok=False, last_success=last_read), posts, NOW)
    # forty days of failed polls later: still what it was when last read, not inactive
    assert failing.state.value == "active"
    assert failing.stale and failing.judged_at == last_read
    ok = views.judge(settings, record(ok=True, last_success=NOW), posts, NOW)
    assert ok.state.value == "inactive" and not ok.stale
    never = views.judge(settings, record(ok=False, last_success=None), [], NOW)
    assert never.state.value == "unknown" and not never.stale


@pytest.mark.parametrize(
    "url",
    [
        "http://x:abc/",
        "https://a.example/\nforged",
        "https://a.example/ b",
        "javascript:x",
        "http://",
    ],
)
def test_hostile_platform_urls_and_counts_are_not_stored(store: Store, url: str) -> None:
    cid = store.sync(["Org"], [CHANNEL], NOW)[CHANNEL.key]
    for followers in (10**400, -5):
        outcome = PollOutcome(
            NOW,
            NOW,
            1,
            FetchResult(profile=Profile(name="A", url=url, followers=followers)),
        )
        store.record_poll(cid, outcome)
        stored = store.channels([cid])[cid]
        assert stored.url is None and stored.followers is None
    store.record_poll(
        cid, PollOutcome(NOW, NOW, 1, FetchResult(profile=Profile(url="https://ok.example/")))
    )
    assert store.channels([cid])[cid].url == "https://ok.example/"


def test_one_channels_unreadable_data_never_takes_metrics_down(store: Store) -> None:
    good = ChannelSettings("Org", "rss", "https://b.example/rss", POLICY, timedelta(hours=1))
    ids = store.sync(["Org"], [CHANNEL, good], NOW)
    with store.engine.begin() as conn:  # stored by an older version, before URLs were checked
        conn.execute(sa.text("UPDATE channel SET url = 'http://x:abc/' WHERE id = :i"),
                     {"i": ids[CHANNEL.key]})  # fmt: skip
    registry = CollectorRegistry()
    registry.register(ChannelCollector(lambda: views.snapshot(store, [CHANNEL, good], ids, NOW)))
    text = generate_latest(registry).decode()
    assert 'channel="https://b.example/rss"' in text
    assert 'channel="https://a.example/rss"' in text  # still there, with an empty url label
