"""The imperative shell: one poll, its errors, its metering, its backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ChannelRef, Checkpoint, FetchResult, PlatformOptions, Post
from connectors.errors import AuthFailed, ChannelNotFound, RateLimited, Transient
from monitor.cadence import MAX_INTERVALS
from monitor.http_client import build_client
from monitor.jobs import (
    FIRST_READ_MAX_REQUESTS,
    FIRST_RETRY,
    FUTURE_TOLERANCE,
    NOT_FOUND_AFTER,
    Poller,
    advance,
    backoff,
    confirm_not_found,
    judging_horizon_reached,
    settle_future_posts,
)
from monitor.metrics import Instruments
from monitor.records import PollContext, PollOutcome
from monitor.redact import Redactor
from monitor.settings import ChannelSettings, Policy
from monitor.storage import Store
from tests.conftest import NOW

SECRET = "SECRET-TOKEN-123"
Fetch = Callable[["FakeConnector", ChannelRef], Coroutine[Any, Any, FetchResult]]


class FakeConnector:
    """A connector whose behaviour each test chooses; it calls the shared client like a real one."""

    platform: ClassVar[str] = "rss"

    def __init__(self, client: httpx.AsyncClient, behaviour: Fetch) -> None:
        self.client = client
        self.behaviour = behaviour
        self.seen: list[tuple[datetime | None, Checkpoint]] = []

    async def fetch(
        self, channel: ChannelRef, *, since: datetime | None, checkpoint: Checkpoint
    ) -> FetchResult:
        self.seen.append((since, checkpoint))
        return await self.behaviour(self, channel)

    def public_url(self, channel: ChannelRef) -> str | None:
        return channel.handle


def make(
    store: Store,
    behaviour: Fetch,
    *,
    handler: Callable[[httpx.Request], httpx.Response] | None = None,
    concurrency: int = 4,
    timeout: float = 5.0,
) -> tuple[Poller, FakeConnector, Instruments, CollectorRegistry]:
    client = build_client(transport=httpx.MockTransport(handler or (lambda r: httpx.Response(200))))
    connector = FakeConnector(client, behaviour)
    registry = CollectorRegistry()
    instruments = Instruments(registry, ["rss"])

    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    poller = Poller(
        connectors={"rss": connector},
        store=store,
        db=db,
        instruments=instruments,
        redactor=Redactor([SECRET]),
        concurrency={"rss": concurrency},
        poll_timeout=timedelta(seconds=timeout),
        clock=lambda: NOW,
    )
    return poller, connector, instruments, registry


CHANNEL = ChannelSettings(
    "Gemeente A", "rss", "https://a.example/rss", Policy(), timedelta(hours=6)
)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_success_stores_posts_and_passes_since_next_time(store: Store) -> None:
    async def behaviour(c: FakeConnector, _: ChannelRef) -> FetchResult:
        await c.client.get("https://a.example/rss")
        return FetchResult(
            posts=(Post("1", NOW - timedelta(days=1)),), checkpoint=Checkpoint(etag='"x"')
        )

    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    poller, connector, _, registry = make(store, behaviour)
    report = await poller.poll(CHANNEL, cid)
    assert report.ok and report.new_posts == 1 and report.retry_in is None
    await poller.poll(CHANNEL, cid)
    assert connector.seen[0] == (None, Checkpoint())
    assert connector.seen[1] == (NOW - timedelta(days=1), Checkpoint(etag='"x"'))
    assert sample(registry, "channel_monitor_api_requests_total", platform="rss", code="200") == 2
    assert store.recent_polls(cid)[0].requests == 1


async def test_auth_failure_is_recorded_redacted_and_not_retried_early(store: Store) -> None:
    async def behaviour(c: FakeConnector, _: ChannelRef) -> FetchResult:
        raise AuthFailed(f"token {SECRET} expired")

    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    poller, _, _, registry = make(store, behaviour)
    report = await poller.poll(CHANNEL, cid)
    assert not report.ok and report.retry_in is None
    record = store.channels([cid])[cid]
    assert record.last_error_reason == "auth"
    assert record.last_error_detail is not None and SECRET not in record.last_error_detail
    assert sample(registry, "channel_monitor_poll_errors_total", platform="rss", reason="auth") == 1
    assert (
        sample(registry, "channel_monitor_poll_errors_total", platform="rss", reason="transient")
        == 0
    )


async def test_rate_limit_backs_off_at_least_as_long_as_asked(store: Store) -> None:
    async def behaviour(c: FakeConnector, _: ChannelRef) -> FetchResult:
        raise RateLimited("slow down", retry_after=600)

    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    poller, _, _, _ = make(store, behaviour)
    report = await poller.poll(CHANNEL, cid)
    assert report.retry_in is not None and timedelta(seconds=600) <= report.retry_in <= timedelta(
        seconds=660
    )


async def test_transport_errors_through_the_shared_client_are_transient(store: Store) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async def behaviour(c: FakeConnector, _: ChannelRef) -> FetchResult:
        from connectors.errors import transport_errors

        with transport_errors():
            await c.client.get("https://a.example/rss?access_token=" + SECRET)
        raise AssertionError("unreachable")

    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    poller, _, _, registry = make(store, behaviour, handler=refuse)
    report = await poller.poll(CHANNEL, cid)
    assert report.error is not None and report.error.kind == "transient"
    assert report.retry_in is not None and report.retry_in >= FIRST_RETRY
    assert sample(registry, "channel_monitor_api_requests_total", platform="rss", code="error") == 1
    assert SECRET not in (store.channels([cid])[cid].last_error_detail or "")


async def test_an_unexpected_exception_is_malformed_not_a_crash(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    async def behaviour(c: FakeConnector, _: ChannelRef) -> FetchResult:
        raise KeyError("data")

    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    poller, _, _, _ = make(store, behaviour)
    with caplog.at_level(logging.ERROR):
        report = await poller.poll(CHANNEL, cid)
    assert report.error is not None and report.error.kind == "malformed"
    assert "unexpected error" in caplog.text


async def test_a_hanging_poll_times_out_as_transient(store: Store) -> None:
    async def behaviour(c: FakeConnector, _: ChannelRef) -> FetchResult:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    poller, _, _, _ = make(store, behaviour, timeout=0.05)
    report = await poller.poll(CHANNEL, cid)
    assert report.error is not None and report.error.kind == "transient"
    assert "longer than" in str(report.error)


async def test_feeds_of_one_host_are_read_concurrency_at_a_time(store: Store) -> None:
    running = 0
    peak = 0
    release = asyncio.Event()
    entered = asyncio.Condition()

    async def behaviour(c: FakeConnector, _: ChannelRef) -> FetchResult:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        async with entered:
            entered.notify_all()
        await release.wait()
        running -= 1
        return FetchResult()

    channels = [
        ChannelSettings("Gemeente A", "rss", f"https://a.example/{i}", Policy(), timedelta(hours=1))
        for i in range(6)
    ]
    ids = store.sync(["Gemeente A"], channels, NOW)
    poller, _, _, _ = make(store, behaviour, concurrency=2)
    tasks = [asyncio.create_task(poller.poll(c, ids[c.key])) for c in channels]
    async with entered:
        await asyncio.wait_for(entered.wait_for(lambda: running == 2), 5)
    release.set()
    reports = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert all(r.ok for r in reports)
    assert peak == 2


def test_backoff_doubles_caps_at_the_interval_and_honours_retry_after() -> None:
    hour = timedelta(hours=1)
    assert FIRST_RETRY <= backoff(1, hour, None) <= FIRST_RETRY * 1.1
    assert FIRST_RETRY * 4 <= backoff(3, hour, None) <= FIRST_RETRY * 4 * 1.1
    assert hour <= backoff(30, hour, None) <= hour * 1.1
    assert backoff(1, hour, 7200) >= timedelta(seconds=7200)


def test_future_posts_count_as_published_when_seen() -> None:
    posts = (
        Post("a", NOW + timedelta(days=30)),
        Post("b", NOW + timedelta(minutes=5)),
        Post("c", None),
    )
    settled = settle_future_posts(posts, NOW)
    assert [p.published_at for p in settled] == [NOW, NOW + timedelta(minutes=5), None]


def test_platform_options_repr_hides_the_token() -> None:
    assert SECRET not in repr(PlatformOptions(access_token=SECRET))


async def test_a_throttle_pauses_every_channel_of_the_platform(store: Store) -> None:
    calls: list[str] = []

    async def behaviour(c: FakeConnector, channel: ChannelRef) -> FetchResult:
        calls.append(channel.handle)
        raise RateLimited("(#4) Application request limit reached", retry_after=1800)

    first = ChannelSettings(
        "Gemeente A", "rss", "https://a.example/rss", Policy(), timedelta(hours=6)
    )
    second = ChannelSettings(
        "Gemeente B", "rss", "https://a.example/other", Policy(), timedelta(hours=6)
    )
    ids = store.sync(["Gemeente A", "Gemeente B"], [first, second], NOW)
    poller, _, _, _ = make(store, behaviour)
    await poller.poll(first, ids[first.key])
    report = await poller.poll(second, ids[second.key])
    assert calls == ["https://a.example/rss"]  # the second was not even tried
    assert report.deferred_until is not None
    assert report.deferred_until >= NOW + timedelta(seconds=1800)
    assert store.recent_polls(ids[second.key]) == []  # a deferred poll is not a failed poll


async def test_high_quota_use_slows_the_next_poll(store: Store) -> None:
    async def behaviour(c: FakeConnector, _: ChannelRef) -> FetchResult:
        return FetchResult(quota_used_ratio=0.95)

    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    poller, _, _, registry = make(store, behaviour)
    report = await poller.poll(CHANNEL, cid)
    assert report.ok
    assert report.retry_in is not None and report.retry_in > CHANNEL.poll_interval * 3
    assert sample(registry, "channel_monitor_api_quota_used_ratio", platform="rss") == 0.95


async def test_refused_connections_are_connect_errors_not_timeouts() -> None:
    from monitor.http_client import build_client as real_client

    async with real_client(timeout=5) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://127.0.0.1:9/")  # nothing listens on the discard port


def test_an_absurd_retry_after_is_capped_at_a_day() -> None:
    from connectors.errors import parse_retry_after
    from monitor.jobs import MAX_RETRY_AFTER

    assert parse_retry_after("inf") is None
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT") is not None
    assert backoff(1, timedelta(hours=6), 1e12) <= MAX_RETRY_AFTER * 1.1
    assert backoff(1, timedelta(hours=6), float("inf")) <= timedelta(hours=6)


class Listing:
    """A newest-first listing read ``per_fetch`` posts at a time, the way the API connectors page:
    the head (posts at or after ``since``), then the backlog from the position kept in the
    checkpoint. Every fetch makes ``requests`` requests through the shared client."""

    def __init__(self, posts: list[Post], *, per_fetch: int = 20, requests: int = 1) -> None:
        self.posts = sorted(posts, key=lambda p: p.published_at or NOW, reverse=True)
        self.per_fetch = per_fetch
        self.requests = requests
        self.fail_at: int | None = None  # the fetch (0-based) that raises

    async def __call__(self, c: FakeConnector, _: ChannelRef) -> FetchResult:
        since, checkpoint = c.seen[-1]
        if self.fail_at is not None and len(c.seen) - 1 == self.fail_at:
            raise Transient("HTTP 502 from https://a.example/api")
        for _ in range(self.requests):
            await c.client.get("https://a.example/api")
        head = [p for p in self.posts if since is not None and p.published_at >= since]
        start = int(checkpoint.extra.get("resume", "0")) if checkpoint.backlog else len(head)
        if since is None:
            start = 0
        taken = self.posts[start : start + self.per_fetch]
        end = start + len(taken)
        extra = {"resume": str(end)} if end < len(self.posts) else {}
        return FetchResult(posts=(*head, *taken), checkpoint=Checkpoint(extra=extra))


def daily(count: int, newest: datetime = NOW - timedelta(hours=1)) -> list[Post]:
    return [Post(str(i), newest - timedelta(days=i)) for i in range(count)]


async def test_a_first_read_goes_on_until_the_judging_horizon(store: Store) -> None:
    # 400 daily posts, 20 per poll: the rules weigh 90 days (the widest window) plus 50 intervals
    listing = Listing(daily(400))
    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    poller, connector, _, _ = make(store, listing)
    report = await poller.poll(CHANNEL, cid)
    assert report.ok
    stored = store.post_times([cid], since=NOW - timedelta(days=1000), newest=0)[cid]
    oldest = min(p.published_at for p in stored)
    assert NOW - oldest > timedelta(days=90 + 50)  # horizon reached...
    assert len(stored) < 400  # ...and no further than needed
    assert connector.seen[1][0] == NOW - timedelta(hours=1)  # continued from the newest post
    assert len(store.recent_polls(cid)) == 1  # stored as one poll
    assert store.recent_polls(cid)[0].requests == len(connector.seen)

    # later polls keep to the page budget
    seen = len(connector.seen)
    await poller.poll(CHANNEL, cid)
    assert len(connector.seen) == seen + 1


async def test_a_first_read_stops_at_the_end_of_the_listing(store: Store) -> None:
    listing = Listing(daily(30))
    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    poller, connector, _, _ = make(store, listing)
    assert (await poller.poll(CHANNEL, cid)).ok
    assert len(connector.seen) == 2
    assert len(store.post_times([cid], since=NOW - timedelta(days=99), newest=0)[cid]) == 30


async def test_a_first_read_stops_past_dormant_after(store: Store) -> None:
    # one post a week: 26 weeks reach dormant_after (180 days) long before 50 intervals
    weekly = [Post(str(i), NOW - timedelta(weeks=i, hours=1)) for i in range(200)]
    listing = Listing(weekly, per_fetch=5)
    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    poller, _, _, _ = make(store, listing)
    assert (await poller.poll(CHANNEL, cid)).ok
    stored = store.post_times([cid], since=NOW - timedelta(days=5000), newest=0)[cid]
    assert 26 <= len(stored) <= 35
    assert min(p.published_at for p in stored) <= NOW - timedelta(days=180)


async def test_a_first_read_makes_at_most_the_capped_requests(store: Store) -> None:
    listing = Listing(daily(5000, NOW - timedelta(hours=1)), per_fetch=1, requests=5)
    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    poller, _, _, _ = make(store, listing)
    assert (await poller.poll(CHANNEL, cid)).ok
    assert store.recent_polls(cid)[0].requests == FIRST_READ_MAX_REQUESTS


async def test_a_first_read_that_fails_part_way_is_not_judged(store: Store) -> None:
    listing = Listing(daily(400))
    listing.fail_at = 2
    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    poller, connector, _, _ = make(store, listing)
    report = await poller.poll(CHANNEL, cid)
    assert not report.ok and report.error is not None and report.error.kind == "transient"
    record = store.channels([cid])[cid]
    assert record.last_success_at is None  # still unknown: never judged on a partial read
    assert store.post_times([cid], since=NOW - timedelta(days=999), newest=0) == {}

    listing.fail_at = None
    assert (await poller.poll(CHANNEL, cid)).ok
    assert connector.seen[3] == (None, Checkpoint())  # the first read starts again


def test_advance_gives_the_context_the_store_would_read(store: Store) -> None:
    channel = ChannelSettings(
        "Gemeente A", "rss", "https://a.example/rss", Policy(), timedelta(hours=1)
    )
    cid = store.sync(["Gemeente A"], [channel], NOW)[channel.key]

    def at(hours: int, result: FetchResult | None) -> PollOutcome:
        moment = NOW + timedelta(hours=hours)
        reason = None if result is not None else "transient"
        return PollOutcome(moment, moment + timedelta(seconds=2), 1, result, reason, "HTTP 503")

    read = FetchResult(
        posts=(Post("1", NOW - timedelta(days=3)), Post("2", NOW - timedelta(days=1))),
        checkpoint=Checkpoint(etag='"v1"'),
    )
    empty = FetchResult(posts=(), checkpoint=Checkpoint(etag='"v2"'))
    context = store.poll_context(cid)
    for outcome in (at(0, None), at(1, read), at(2, None), at(3, None), at(4, empty)):
        store.record_poll(cid, outcome)
        context = advance(context, outcome)
        assert context == store.poll_context(cid)


def test_a_post_dated_just_within_the_tolerance_keeps_its_date() -> None:
    edge = Post("edge", NOW + FUTURE_TOLERANCE)
    beyond = Post("beyond", NOW + FUTURE_TOLERANCE + timedelta(microseconds=1))
    assert [p.published_at for p in settle_future_posts((edge, beyond), NOW)] == [
        NOW + FUTURE_TOLERANCE,
        NOW,
    ]


def test_a_first_read_reaches_its_horizon_at_dormant_after_or_past_the_weighed_posts() -> None:
    policy = Policy()
    assert judging_horizon_reached([Post("old", NOW - policy.dormant_after)], policy, NOW)
    assert not judging_horizon_reached(
        [Post("old", NOW - policy.dormant_after + timedelta(seconds=1))], policy, NOW
    )
    assert not judging_horizon_reached([Post("undated", None)], policy, NOW)
    # a post yesterday and MAX_INTERVALS + 1 daily ones older than the widest window (90 days)
    older = [Post(str(d), NOW - timedelta(days=91 + d)) for d in range(MAX_INTERVALS + 1)]
    posts = [Post("new", NOW - timedelta(days=1)), *older]
    assert judging_horizon_reached(posts, policy, NOW)
    assert not judging_horizon_reached(posts[:-1], policy, NOW)
    # posts of kinds that do not count are not weighed
    assert not judging_horizon_reached([replace(p, kind="repost") for p in posts], policy, NOW)
    # the quiet rule's reach: a newest post 100 days ago weighs the 30 days before it too
    posts = [Post(str(d), NOW - timedelta(days=100 + d)) for d in range(MAX_INTERVALS + 2)]
    assert not judging_horizon_reached(posts, policy, NOW)


def test_a_flaky_not_found_is_believed_after_three_polls_over_a_day() -> None:
    flaky = ChannelNotFound("HTTP 404 from https://www.youtube.com/feeds", status=404, flaky=True)
    context = PollContext(
        newest_post_at=None,
        checkpoint=Checkpoint(),
        last_poll_at=NOW,
        last_poll_ok=False,
        consecutive_failures=2,
        last_success_at=NOW - timedelta(days=2),
        failing_since=NOW - NOT_FOUND_AFTER,
    )
    assert confirm_not_found(flaky, context, NOW) is flaky
    early = confirm_not_found(flaky, replace(context, consecutive_failures=1), NOW)
    assert isinstance(early, Transient) and early.status == 404
    assert str(early).endswith(
        "(failing since 2026-11-25 12:00 UTC, 2× in a row); taken as "
        "passing until it lasts 3 polls over 24 h"
    )
    soon = confirm_not_found(flaky, replace(context, failing_since=NOW - timedelta(hours=1)), NOW)
    assert isinstance(soon, Transient)


async def test_a_poll_with_new_posts_logs_at_info_an_unchanged_one_at_debug(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    async def behaviour(c: FakeConnector, _: ChannelRef) -> FetchResult:
        await c.client.get("https://a.example/rss")
        return FetchResult(posts=(Post("1", NOW - timedelta(days=1)),), checkpoint=Checkpoint())

    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    poller, *_ = make(store, behaviour)
    with caplog.at_level(logging.DEBUG, logger="channel_monitor.poll"):
        await poller.poll(CHANNEL, cid)  # one new post
        await poller.poll(CHANNEL, cid)  # the same post again: nothing new
    levels = [(r.levelno, r.getMessage()) for r in caplog.records if r.msg.startswith("polled")]
    assert levels == [(logging.INFO, "polled: 1 new posts"), (logging.DEBUG, "polled: 0 new posts")]
