"""Mastodon connector against documented payloads over httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from connectors.base import ChannelRef, Checkpoint, PlatformOptions
from connectors.errors import ConnectorError, RateLimited
from connectors.mastodon import MastodonConnector

FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DATE = format_datetime(NOW, usegmt=True)
HANDLE = ChannelRef("@developer@social.overheid.nl")
ACCOUNT_ID = "109367541240353435"
STATUSES = f"/api/v1/accounts/{ACCOUNT_ID}/statuses"
HOME = "https://social.overheid.nl"
RATE = {
    "X-RateLimit-Limit": "300",
    "X-RateLimit-Remaining": "270",
    "X-RateLimit-Reset": "2026-11-26T12:05:00.123456Z",
}
PROBE = {"account_id": ACCOUNT_ID, "statuses_count": "412", "last_status_at": "2026-11-25"}

Route = Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def reply(name: str, status: int = 200, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, json=fixture(name), headers={"Date": DATE, **RATE, **(headers or {})}
    )


def timeline(request: httpx.Request) -> httpx.Response:
    """Page 1 is full and links on (dropping our filters); page 2 is short: the end."""
    if "max_id" not in request.url.params:
        link = (
            f"<{HOME}{STATUSES}?max_id=113545001000000000>; " + 'rel="next", '
            f"<{HOME}{STATUSES}?min_id=113546897405190000>; " + 'rel="prev"'
        )
        return reply("statuses_p1.json", headers={"Link": link})
    return reply("statuses_p2.json")


class Server:
    """A MockTransport handler: lookup and statuses routes, and every request it saw."""

    def __init__(self, lookup: Route | None = None, statuses: Route = timeline) -> None:
        self.lookup = lookup or (lambda request: reply("account.json"))
        self.statuses = statuses
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/api/v1/accounts/lookup":
            return self.lookup(request)
        if request.url.path == STATUSES:
            return self.statuses(request)
        return httpx.Response(404, json={"error": "Record not found"})


def connector(server: Server, **options: object) -> MastodonConnector:
    client = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return MastodonConnector(client, PlatformOptions(**options))  # type: ignore[arg-type]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_looks_the_account_up_on_its_own_server_by_bare_username() -> None:
    server = Server()
    await connector(server).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    lookup = server.requests[0]
    assert str(lookup.url) == "https://social.overheid.nl/api/v1/accounts/lookup?acct=developer"
    assert "authorization" not in lookup.headers


async def test_base_url_is_asked_for_the_full_acct() -> None:
    server = Server()
    await connector(server, base_url="http://127.0.0.1:9").fetch(
        HANDLE, since=None, checkpoint=Checkpoint()
    )
    assert {r.url.host for r in server.requests} == {"127.0.0.1"}  # next links re-rooted too
    assert server.requests[0].url.params["acct"] == "developer@social.overheid.nl"


async def test_first_poll_reads_statuses_with_kinds_and_reapplied_filters() -> None:
    server = Server()
    result = await connector(server).fetch(HANDLE, since=None, checkpoint=Checkpoint())

    first, second = server.requests[1:]
    assert first.url.path == STATUSES
    assert first.url.params["exclude_replies"] == "true"
    assert first.url.params["limit"] == "40"
    assert second.url.params["max_id"] == "113545001000000000"
    assert second.url.params["exclude_replies"] == "true"  # the next link had dropped it
    assert second.url.params["limit"] == "40"

    kinds = {p.post_id: (p.kind, p.published_at) for p in result.posts}
    assert kinds == {
        "113546897405190000": ("post", at("2026-11-25T10:15:00.901+00:00")),
        "113546100000000000": ("repost", at("2026-11-25T06:52:12.120+00:00")),  # boost time
        "113545002000000000": ("reply", at("2026-11-25T02:13:00.500+00:00")),  # own thread
        "113545001000000000": ("post", at("2026-11-25T02:12:01+00:00")),
        "113530000000000000": ("post", at("2026-11-22T09:00:00+00:00")),
        "113510000000000000": ("post", at("2026-11-18T08:00:00+00:00")),
    }  # the reply to another account is left out
    assert result.profile is not None
    assert result.profile.name == "developer.overheid.nl"
    assert result.profile.url == "https://social.overheid.nl/@developer"
    assert result.profile.followers == 1234
    assert result.checkpoint.extra == PROBE
    assert not result.not_modified


async def test_unchanged_probe_is_one_request() -> None:
    server = Server()
    result = await connector(server).fetch(
        HANDLE, since=at("2026-11-25T10:15:00.901+00:00"), checkpoint=Checkpoint(extra=PROBE)
    )
    assert len(server.requests) == 1
    assert result.not_modified
    assert result.posts == ()
    assert result.profile is not None
    assert result.profile.followers == 1234
    assert result.checkpoint.extra == PROBE
    assert result.quota_used_ratio == pytest.approx(0.1)


@pytest.mark.parametrize(
    "changed",
    [
        {"statuses_count": "411"},
        {"last_status_at": "2026-11-24"},
        {"account_id": "1"},
    ],
)
async def test_a_moved_probe_reads_statuses_and_stops_at_since(changed: dict[str, str]) -> None:
    server = Server()
    since = at("2026-11-25T02:12:01+00:00")
    result = await connector(server).fetch(
        HANDLE, since=since, checkpoint=Checkpoint(extra={**PROBE, **changed})
    )
    assert len(server.requests) == 2  # lookup and one page: page 1 reaches since
    assert server.requests[1].url.params["limit"] == "20"
    assert len(result.posts) == 4
    assert all(p.published_at is not None and p.published_at >= since for p in result.posts)
    assert result.checkpoint.extra == PROBE


async def test_last_status_at_may_be_a_datetime_and_is_never_a_post_time() -> None:
    server = Server(lookup=lambda request: reply("account_datetime_last_status.json"))
    result = await connector(server).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert result.checkpoint.extra["last_status_at"] == "2019-11-30T20:02:08.277Z"
    assert at("2019-11-30T20:02:08.277+00:00") not in {p.published_at for p in result.posts}


async def test_no_link_means_the_end() -> None:
    server = Server(statuses=lambda request: reply("statuses_p2.json"))
    result = await connector(server).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert len(server.requests) == 2
    assert len(result.posts) == 2


async def test_page_budget_leaves_a_max_id_to_resume_from() -> None:
    server = Server()
    conn = connector(server, page_limit=1)
    first = await conn.fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert first.checkpoint.extra == {**PROBE, "resume": "113545001000000000"}

    server.requests.clear()
    since = at("2026-11-25T10:15:00.901+00:00")
    second = await connector(server, page_limit=2).fetch(
        HANDLE, since=since, checkpoint=first.checkpoint
    )  # the probe is unchanged, but a gap is open
    assert [r.url.params.get("max_id") for r in server.requests[1:]] == [
        None,
        "113545001000000000",
    ]
    assert {p.post_id for p in second.posts} >= {"113530000000000000", "113510000000000000"}
    assert second.checkpoint.extra == PROBE


async def test_suspended_account_is_not_found() -> None:
    server = Server(lookup=lambda request: reply("account_suspended.json"))
    with pytest.raises(ConnectorError) as caught:
        await connector(server).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert caught.value.kind == "not_found"
    assert "suspended" in str(caught.value)


async def test_moved_account_is_not_found_and_names_the_new_one() -> None:
    server = Server(lookup=lambda request: reply("account_moved.json"))
    with pytest.raises(ConnectorError) as caught:
        await connector(server).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert caught.value.kind == "not_found"
    assert "moved to @devportaal@mastodon.example" in str(caught.value)


def error(name: str, status: int, headers: Mapping[str, str] | None = None) -> Route:
    return lambda request: reply(name, status, headers)


@pytest.mark.parametrize(
    ("lookup", "kind", "words"),
    [
        (error("error_404.json", 404), "not_found", "Record not found"),
        (error("error_401.json", 401), "auth", "without a token"),
        (error("error_401.json", 403), "auth", "HTTP 403"),
        (error("error_429.json", 429), "rate_limited", "Too many requests"),
        (error("error_503.json", 503), "transient", "Remote data could not be fetched"),
        (error("error_404.json", 410), "not_found", "HTTP 410"),
        (
            lambda request: httpx.Response(500, text="<html><h1>We're sorry</h1></html>"),
            "transient",
            "HTTP 500",
        ),
        (lambda request: httpx.Response(200, text="{oops"), "malformed", "expected JSON"),
        (lambda request: httpx.Response(200, text="<html></html>"), "malformed", "expected JSON"),
        (lambda request: httpx.Response(200, json={"id": "1"}), "malformed", "statuses_count"),
    ],
)
async def test_lookup_errors(lookup: Route, kind: str, words: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        await connector(Server(lookup=lookup)).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert caught.value.kind == kind
    assert words in str(caught.value)


async def test_statuses_errors_are_mapped_too() -> None:
    server = Server(statuses=error("error_404.json", 404))
    with pytest.raises(ConnectorError) as caught:
        await connector(server).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert caught.value.kind == "not_found"

    bad = Server(statuses=lambda request: httpx.Response(200, json=[{"id": "1"}]))
    with pytest.raises(ConnectorError) as caught:
        await connector(bad).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert caught.value.kind == "malformed"


async def test_429_waits_for_the_fractional_reset_by_the_server_clock() -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-11-26T12:04:30.250000Z"}
    server = Server(lookup=error("error_429.json", 429, headers))
    with pytest.raises(RateLimited) as caught:
        await connector(server).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert caught.value.retry_after == pytest.approx(270.25)
    assert getattr(caught.value, "quota_used_ratio", None) == 1.0


@pytest.mark.parametrize(
    ("handle", "url"),
    [
        ("@developer@social.overheid.nl", "https://social.overheid.nl/@developer"),
        ("developer@social.overheid.nl", "https://social.overheid.nl/@developer"),
        (" @Gargron@mastodon.social ", "https://mastodon.social/@Gargron"),
    ],
)
def test_public_url(handle: str, url: str) -> None:
    assert connector(Server()).public_url(ChannelRef(handle)) == url


@pytest.mark.parametrize("handle", ["developer", "@developer", "https://social.overheid.nl/@x"])
async def test_a_handle_without_a_server_is_not_found_without_a_request(handle: str) -> None:
    server = Server()
    with pytest.raises(ConnectorError) as caught:
        await connector(server).fetch(ChannelRef(handle), since=None, checkpoint=Checkpoint())
    assert caught.value.kind == "not_found"
    assert server.requests == []
    assert connector(server).public_url(ChannelRef(handle)) is None


async def test_no_request_is_made_once_the_server_says_none_is_left() -> None:
    spent = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-11-26T12:01:00.000000Z"}
    server = Server(lookup=lambda request: reply("account.json", headers=spent))
    with pytest.raises(RateLimited) as caught:
        await connector(server).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert len(server.requests) == 1
    assert caught.value.retry_after == 60
    assert getattr(caught.value, "quota_used_ratio", None) == 1.0
