"""Bluesky connector against lexicon-shaped payloads over httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from connectors.base import ChannelRef, Checkpoint, PlatformOptions
from connectors.bluesky import BlueskyConnector
from connectors.errors import ConnectorError, RateLimited

FIXTURES = Path(__file__).parent / "fixtures" / "bluesky"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DATE = format_datetime(NOW, usegmt=True)
HANDLE = ChannelRef("voorbeeld.bsky.social")
DID = "did:plc:4vtrfxj5mvyl2mjrsnlrmdcj"
PROFILE = "/xrpc/app.bsky.actor.getProfile"
FEED = "/xrpc/app.bsky.feed.getAuthorFeed"
RATE = {
    "RateLimit-Limit": "3000",
    "RateLimit-Remaining": "2250",
    "RateLimit-Reset": str(int(NOW.timestamp()) + 120),
    "RateLimit-Policy": "3000;w=300",
}
FED_AT = str(int((NOW - timedelta(hours=6)).timestamp()))
PROBE = {"did": DID, "posts_count": "318", "feed_at": FED_AT}
PINNED = f"at://{DID}/app.bsky.feed.post/3m2jpinned22"
REPOST = f"at://{DID}/app.bsky.feed.repost/3m6kl7rrpxs2f"
FUTURE = f"at://{DID}/app.bsky.feed.post/3m6iaaafuture"
IMPORTED = f"at://{DID}/app.bsky.feed.post/3m5xdddd2cccc"

Route = Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def reply(name: str, status: int = 200, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, json=fixture(name), headers={"Date": DATE, **RATE, **(headers or {})}
    )


def author_feed(request: httpx.Request) -> httpx.Response:
    """The first page (pin first, then newest first) with a cursor; the last page without."""
    cursor = request.url.params.get("cursor")
    return reply("feed_p1.json" if cursor is None else "feed_p2.json")


class AppView:
    """A MockTransport handler: getProfile and getAuthorFeed, and every request it saw."""

    def __init__(self, profile: Route | None = None, feed: Route = author_feed) -> None:
        self.profile = profile or (lambda request: reply("profile.json"))
        self.feed = feed
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = {PROFILE: self.profile, FEED: self.feed}[request.url.path]
        return route(request)

    def feed_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == FEED]


def connector(appview: AppView, **options: object) -> BlueskyConnector:
    client = httpx.AsyncClient(transport=httpx.MockTransport(appview))
    settings = {"base_url": "https://public.api.bsky.app", **options}
    return BlueskyConnector(client, PlatformOptions(**settings))  # type: ignore[arg-type]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_reads_profile_then_the_feed_without_replies_by_did() -> None:
    appview = AppView()
    await connector(appview).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    profile, first, second = appview.requests
    assert str(profile.url) == (
        "https://public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=voorbeeld.bsky.social"
    )
    assert "authorization" not in profile.headers
    assert first.url.params["actor"] == DID
    assert first.url.params["filter"] == "posts_no_replies"
    assert first.url.params["limit"] == "100"
    assert "cursor" not in first.url.params
    assert second.url.params["cursor"] == "1795424400000__bafyreid4"  # passed back verbatim
    assert second.url.params["filter"] == "posts_no_replies"


async def test_first_poll_kinds_times_and_the_pinned_post_once() -> None:
    result = await connector(AppView()).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    posts = {p.post_id: p for p in result.posts}
    assert len(result.posts) == len(posts) == 7  # the pinned post is listed once
    assert posts[PINNED].published_at == at("2026-10-01T08:00:00+00:00")
    assert posts[PINNED].kind == "post"
    assert posts[REPOST].kind == "repost"
    assert posts[REPOST].published_at == at("2026-11-25T07:30:00+00:00")  # when reposted
    assert posts[FUTURE].published_at == at("2026-11-24T12:00:00.500+00:00")  # indexedAt
    assert posts[IMPORTED].published_at == at("2015-06-01T10:00:00+00:00")  # an import: old
    assert posts[f"at://{DID}/app.bsky.feed.post/3m6kq2vlnzc2a"].published_at == at(
        "2026-11-25T10:00:00+00:00"
    )
    assert {p.kind for p in result.posts} == {"post", "repost"}
    assert result.profile is not None
    assert result.profile.name == "Gemeente Voorbeeld"
    assert result.profile.url == "https://bsky.app/profile/voorbeeld.bsky.social"
    assert result.profile.followers == 2841
    assert result.checkpoint.extra == {
        "did": DID,
        "posts_count": "318",
        "feed_at": str(int(NOW.timestamp())),
    }
    assert result.quota_used_ratio == pytest.approx(0.25)


async def test_the_pinned_post_at_the_top_does_not_end_reading_early() -> None:
    appview = AppView()
    since = at("2026-11-20T00:00:00+00:00")  # newer than the pin, older than page 1
    result = await connector(appview).fetch(HANDLE, since=since, checkpoint=Checkpoint())
    assert len(appview.feed_requests()) == 2
    assert appview.feed_requests()[0].url.params["limit"] == "25"
    ids = {p.post_id for p in result.posts}
    assert f"at://{DID}/app.bsky.feed.post/3m5zcccc2bbbb" in ids  # 20 Nov, on page 2
    assert PINNED not in ids  # older than since: already known


async def test_reading_stops_at_the_page_that_reaches_since() -> None:
    appview = AppView()
    since = at("2026-11-24T12:00:00.500+00:00")
    result = await connector(appview).fetch(HANDLE, since=since, checkpoint=Checkpoint())
    assert len(appview.feed_requests()) == 1
    assert {p.post_id for p in result.posts} == {
        f"at://{DID}/app.bsky.feed.post/3m6kq2vlnzc2a",
        REPOST,
        FUTURE,
    }


async def test_unchanged_posts_count_is_one_request() -> None:
    appview = AppView()
    result = await connector(appview).fetch(
        HANDLE, since=at("2026-11-25T10:00:00+00:00"), checkpoint=Checkpoint(extra=PROBE)
    )
    assert [r.url.path for r in appview.requests] == [PROFILE]
    assert result.not_modified
    assert result.posts == ()
    assert result.profile is not None
    assert result.profile.followers == 2841
    assert result.checkpoint.extra == PROBE


@pytest.mark.parametrize(
    "extra",
    [
        {**PROBE, "posts_count": "317"},
        {**PROBE, "did": "did:plc:somebodyelse"},
        {**PROBE, "feed_at": str(int((NOW - timedelta(days=1, seconds=1)).timestamp()))},
        {"did": DID, "posts_count": "318"},
    ],
    ids=["count moved", "new account", "daily check for reposts", "never read"],
)
async def test_the_feed_is_read_when_the_probe_says_so(extra: dict[str, str]) -> None:
    appview = AppView()
    since = at("2026-11-25T10:00:00+00:00")
    result = await connector(appview).fetch(HANDLE, since=since, checkpoint=Checkpoint(extra=extra))
    assert len(appview.feed_requests()) == 1
    assert not result.not_modified
    assert result.checkpoint.extra["feed_at"] == str(int(NOW.timestamp()))


async def test_missing_counts_mean_no_probe() -> None:
    appview = AppView(profile=lambda request: reply("profile_no_counts.json"))
    result = await connector(appview).fetch(
        HANDLE, since=at("2026-11-25T10:00:00+00:00"), checkpoint=Checkpoint(extra=PROBE)
    )
    assert len(appview.feed_requests()) == 1
    assert result.profile is not None
    assert result.profile.followers is None
    assert "posts_count" not in result.checkpoint.extra


async def test_handle_invalid_keeps_the_configured_handle_as_name() -> None:
    appview = AppView(profile=lambda request: reply("profile_invalid_handle.json"))
    result = await connector(appview).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert result.profile is not None
    assert result.profile.name == "voorbeeld.bsky.social"


async def test_page_budget_leaves_a_cursor_that_the_next_poll_reads() -> None:
    appview = AppView()
    first = await connector(appview, page_limit=1).fetch(
        HANDLE, since=None, checkpoint=Checkpoint()
    )
    assert first.checkpoint.extra["resume"] == "1795424400000__bafyreid4"

    appview.requests.clear()
    second = await connector(appview, page_limit=2).fetch(
        HANDLE, since=at("2026-11-25T10:00:00+00:00"), checkpoint=first.checkpoint
    )  # the count is unchanged, but a gap is open
    cursors = [r.url.params.get("cursor") for r in appview.feed_requests()]
    assert cursors == [None, "1795424400000__bafyreid4"]
    assert IMPORTED in {p.post_id for p in second.posts}
    assert "resume" not in second.checkpoint.extra


async def test_a_cursor_the_appview_no_longer_takes_gives_the_gap_up() -> None:
    def feed(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor"):
            return reply("error_malformed_cursor.json", 400)
        return reply("feed_p1.json")

    extra = {**PROBE, "resume": "stale", "resume_since": "0"}
    result = await connector(AppView(feed=feed)).fetch(
        HANDLE, since=at("2026-11-25T10:00:00+00:00"), checkpoint=Checkpoint(extra=extra)
    )
    assert "resume" not in result.checkpoint.extra
    assert result.posts


def error(name: str, status: int, headers: Mapping[str, str] | None = None) -> Route:
    return lambda request: reply(name, status, headers)


@pytest.mark.parametrize(
    ("profile", "kind", "words"),
    [
        (error("error_profile_not_found.json", 400), "not_found", "Profile not found"),
        (error("error_takedown.json", 400), "not_found", "suspended"),
        (error("error_deactivated.json", 400), "not_found", "deactivated"),
        (error("error_auth.json", 401), "auth", "AuthMissing"),
        (error("error_auth.json", 403), "auth", "HTTP 403"),
        (error("error_ratelimit.json", 429), "rate_limited", "RateLimitExceeded"),
        (error("error_internal.json", 500), "transient", "InternalServerError"),
        (error("error_malformed_cursor.json", 400), "malformed", "Malformed cursor"),
        (lambda request: httpx.Response(404, text="Not Found"), "not_found", "HTTP 404"),
        (lambda request: httpx.Response(200, text="{nope"), "malformed", "expected JSON"),
        (lambda request: httpx.Response(200, text="<html/>"), "malformed", "expected JSON"),
        (lambda request: httpx.Response(200, json={"handle": "x"}), "malformed", "did"),
    ],
)
async def test_profile_errors(profile: Route, kind: str, words: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        await connector(AppView(profile=profile)).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert caught.value.kind == kind
    assert words in str(caught.value)


async def test_feed_errors_are_mapped_too() -> None:
    appview = AppView(feed=error("error_profile_not_found.json", 400))
    with pytest.raises(ConnectorError) as caught:
        await connector(appview).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert caught.value.kind == "not_found"

    bad = AppView(feed=lambda request: httpx.Response(200, json={"feed": [{"post": {}}]}))
    with pytest.raises(ConnectorError) as caught:
        await connector(bad).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert caught.value.kind == "malformed"


async def test_429_waits_for_ratelimit_reset_by_the_server_clock() -> None:
    appview = AppView(profile=error("error_ratelimit.json", 429, {"RateLimit-Remaining": "0"}))
    with pytest.raises(RateLimited) as caught:
        await connector(appview).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert caught.value.retry_after == 120
    assert getattr(caught.value, "quota_used_ratio", None) == 1.0


@pytest.mark.parametrize(
    ("handle", "actor"),
    [
        ("voorbeeld.bsky.social", "voorbeeld.bsky.social"),
        ("@voorbeeld.bsky.social", "voorbeeld.bsky.social"),
        ("www.voorbeeld.nl", "www.voorbeeld.nl"),
        (DID, DID),
    ],
)
async def test_handles_and_dids(handle: str, actor: str) -> None:
    appview = AppView()
    conn = connector(appview)
    await conn.fetch(ChannelRef(handle), since=None, checkpoint=Checkpoint(extra=PROBE))
    assert appview.requests[0].url.params["actor"] == actor
    assert conn.public_url(ChannelRef(handle)) == f"https://bsky.app/profile/{actor}"


@pytest.mark.parametrize("handle", ["voorbeeld", "https://bsky.app/profile/x.bsky.social", ""])
async def test_a_handle_that_is_not_one_is_not_found_without_a_request(handle: str) -> None:
    appview = AppView()
    with pytest.raises(ConnectorError) as caught:
        await connector(appview).fetch(ChannelRef(handle), since=None, checkpoint=Checkpoint())
    assert caught.value.kind == "not_found"
    assert appview.requests == []


async def test_no_request_is_made_once_the_appview_says_none_is_left() -> None:
    spent = {"RateLimit-Remaining": "0"}
    appview = AppView(profile=lambda request: reply("profile.json", headers=spent))
    with pytest.raises(RateLimited) as caught:
        await connector(appview).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert len(appview.requests) == 1
    assert caught.value.retry_after == 120
    assert getattr(caught.value, "quota_used_ratio", None) == 1.0


# -- the AppView's dates and pages, as its sources describe them ---------------------------------


def sorted_at(body: dict[str, object]) -> dict[str, object]:
    """The page as an AppView serving ``indexedAt`` as ``sortedAt = min(createdAt, indexedAt)``
    shows it (``packages/bsky/src/views/index.ts`` without ``BSKY_INDEXED_AT_EPOCH``)."""
    page = json.loads(json.dumps(body))
    for item in page["feed"]:
        view = item["post"]
        created = view["record"].get("createdAt")
        if created and at(created) < at(view["indexedAt"]):
            view["indexedAt"] = created
    return page


@pytest.mark.parametrize("served", ["indexedAt", "sortedAt"])
async def test_a_backdated_import_is_never_a_fresh_post_whichever_indexed_at_is_served(
    served: str,
) -> None:
    def feed(request: httpx.Request) -> httpx.Response:
        name = "feed_p1.json" if request.url.params.get("cursor") is None else "feed_p2.json"
        body = fixture(name)
        assert isinstance(body, dict)
        if served == "sortedAt":
            body = sorted_at(body)
        return httpx.Response(200, json=body, headers={"Date": DATE, **RATE})

    result = await connector(AppView(feed=feed)).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    posts = {p.post_id: p.published_at for p in result.posts}
    assert posts[IMPORTED] == at("2015-06-01T10:00:00+00:00")  # archived, not posted this week
    assert posts[FUTURE] == at("2026-11-24T12:00:00.500+00:00")  # indexed, not 2027
    assert posts[f"at://{DID}/app.bsky.feed.post/3m6kq2vlnzc2a"] == at("2026-11-25T10:00:00+00:00")
    assert len(posts) == 7  # no real post is dropped


async def test_short_and_empty_pages_with_a_cursor_do_not_end_the_feed() -> None:
    """The AppView filters a page after paging and keeps the cursor (``getAuthorFeed.ts``)."""
    pages = {
        None: ({"feed": [], "cursor": "1795500000000__bafyreiempty"}),
        "1795500000000__bafyreiempty": fixture("feed_p1.json"),
        "1795424400000__bafyreid4": fixture("feed_p2.json"),
    }

    def feed(request: httpx.Request) -> httpx.Response:
        body = pages[request.url.params.get("cursor")]
        return httpx.Response(200, json=body, headers={"Date": DATE, **RATE})

    appview = AppView(feed=feed)
    result = await connector(appview).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert len(appview.feed_requests()) == 3
    assert IMPORTED in {p.post_id for p in result.posts}


async def test_a_cursor_that_does_not_move_ends_the_feed() -> None:
    def feed(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        body = {"feed": [], "cursor": cursor or "1795500000000__bafyreiempty"}
        return httpx.Response(200, json=body, headers={"Date": DATE, **RATE})

    appview = AppView(feed=feed)
    result = await connector(appview, page_limit=5).fetch(
        HANDLE, since=None, checkpoint=Checkpoint()
    )
    assert len(appview.feed_requests()) == 2  # the same cursor back: the AppView's own stop
    assert result.posts == ()
    assert "resume" not in result.checkpoint.extra
