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
LOOKUP = "/api/v1/accounts/lookup"
HOME = "https://social.overheid.nl"
RATE = {
    "X-RateLimit-Limit": "300",
    "X-RateLimit-Remaining": "270",
    "X-RateLimit-Reset": "2026-11-26T12:05:00.123456Z",
}
PROBE = {"api": HOME, "acct": "developer", "account_id": ACCOUNT_ID, "newest": "113546897405190000"}

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
    (probe,) = server.requests
    assert str(probe.url) == f"{HOME}{STATUSES}?exclude_replies=true&limit=1"
    assert result.not_modified
    assert result.posts == ()
    assert result.profile is not None
    assert result.profile.followers == 1234
    assert result.checkpoint.extra == PROBE
    assert result.quota_used_ratio == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("changed", "requests"),
    [
        ({"newest": "113545001000000000"}, [STATUSES, STATUSES]),  # a new status on top
        ({"account_id": "1"}, [STATUSES.replace(ACCOUNT_ID, "1"), LOOKUP, STATUSES]),  # re-created
        ({"api": "http://127.0.0.1:9"}, [LOOKUP, STATUSES]),  # not where it is read now
    ],
)
async def test_a_moved_probe_reads_statuses_and_stops_at_since(
    changed: dict[str, str], requests: list[str]
) -> None:
    server = Server()
    since = at("2026-11-25T02:12:01+00:00")
    result = await connector(server).fetch(
        HANDLE, since=since, checkpoint=Checkpoint(extra={**PROBE, **changed})
    )
    assert [r.url.path for r in server.requests] == requests  # page 1 reaches since
    assert server.requests[-1].url.params["limit"] == "20"
    assert len(result.posts) == 4
    assert all(p.published_at is not None and p.published_at >= since for p in result.posts)
    assert result.checkpoint.extra == PROBE


async def test_followers_hidden_by_the_owner_are_unknown_not_negative() -> None:
    account = fixture("account.json")
    assert isinstance(account, dict)
    server = Server(
        lookup=lambda request: httpx.Response(200, json={**account, "followers_count": -1})
    )
    result = await connector(server).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert result.profile is not None
    assert result.profile.followers is None


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
        (lambda request: httpx.Response(200, json={"username": "x"}), "malformed", "id"),
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
        ("@admin@localhost:3000", "https://localhost:3000/@admin"),
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


# -- the probe, paging to the end, and servers that run on another host -------------------------


class Timeline:
    """An account's statuses, paged as the statuses endpoint pages them (``limit``, ``max_id``).

    ``hidden`` statuses are left out after paging, the way GoToSocial filters visibility
    (``internal/processing/account/statuses.go``): its pages may be short or empty and still link
    on, with ``max_id`` and ``min_id`` taken before filtering.
    """

    def __init__(self, *names: str) -> None:
        self.statuses: list[dict[str, object]] = [s for n in names for s in fixture_list(n)]
        self.hidden: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        limit = int(params.get("limit", "20"))
        rows = [
            s
            for s in self.statuses
            if "max_id" not in params or int(str(s["id"])) < int(params["max_id"])
        ][:limit]
        page = [s for s in rows if s["id"] not in self.hidden]
        links = []
        if rows and (self.hidden or len(rows) == limit):
            links.append(f'<{HOME}{STATUSES}?limit={limit}&max_id={rows[-1]["id"]}>; rel="next"')
        if rows:
            links.append(f'<{HOME}{STATUSES}?limit={limit}&min_id={rows[0]["id"]}>; rel="prev"')
        headers = {"Date": DATE, **RATE, **({"Link": ", ".join(links)} if links else {})}
        return httpx.Response(200, json=page, headers=headers)


def fixture_list(name: str) -> list[dict[str, object]]:
    value = fixture(name)
    assert isinstance(value, list)
    return value


def status(status_id: str, created_at: str) -> dict[str, object]:
    """A public status of the account, shaped like the fixtures' own."""
    (model,) = [s for s in fixture_list("statuses_p1.json") if s["id"] == "113546897405190000"]
    return {**model, "id": status_id, "created_at": created_at, "uri": f"{HOME}/{status_id}"}


async def test_a_delete_and_a_new_post_on_the_same_day_are_not_missed() -> None:
    """statuses_count and last_status_at stay the same: one status went, one came, same day."""
    timeline = Timeline("statuses_p1.json", "statuses_p2.json")
    server = Server(statuses=timeline)
    conn = connector(server)
    first = await conn.fetch(HANDLE, since=None, checkpoint=Checkpoint())
    newest = max(p.published_at for p in first.posts if p.published_at)

    timeline.statuses = [s for s in timeline.statuses if s["id"] != "113545001000000000"]
    timeline.statuses.insert(0, status("113550000000000000", "2026-11-25T18:00:00.000Z"))
    server.requests.clear()
    second = await conn.fetch(HANDLE, since=newest, checkpoint=first.checkpoint)
    assert "113550000000000000" in {p.post_id for p in second.posts}
    assert not second.not_modified


async def test_an_unchanged_account_is_one_small_request_that_still_brings_the_profile() -> None:
    server = Server(statuses=Timeline("statuses_p1.json", "statuses_p2.json"))
    conn = connector(server)
    first = await conn.fetch(HANDLE, since=None, checkpoint=Checkpoint())
    server.requests.clear()
    since = at("2026-11-25T10:15:00.901+00:00")
    second = await conn.fetch(HANDLE, since=since, checkpoint=first.checkpoint)
    (probe,) = server.requests
    assert probe.url.path == STATUSES
    assert probe.url.params["limit"] == "1"
    assert probe.url.params["exclude_replies"] == "true"
    assert second.not_modified
    assert second.posts == ()
    assert second.profile is not None
    assert second.profile.followers == 1234  # from the status's own account
    assert second.checkpoint.extra == first.checkpoint.extra


async def test_short_and_empty_pages_that_link_on_are_not_the_end() -> None:
    timeline = Timeline("statuses_p1.json", "statuses_p2.json")
    followers_only = [  # 76 in a row: page 1 is short, page 2 empty, both link on
        status(str(113540000000000000 - i * 10**9), "2026-11-24T12:00:00.000Z") for i in range(76)
    ]
    timeline.statuses[4:4] = followers_only
    timeline.hidden = {str(s["id"]) for s in followers_only}
    server = Server(statuses=timeline)
    result = await connector(server).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    pages = [r for r in server.requests if r.url.path == STATUSES and "limit=40" in str(r.url)]
    assert len(pages) == 4  # short, empty, the rest, and the empty end
    ids = {p.post_id for p in result.posts}
    assert {"113530000000000000", "113510000000000000"} <= ids
    assert not ids & timeline.hidden


SPLIT = ChannelRef("@alice@example.org")
SPLIT_ACCOUNT = {
    **(fixture("account.json") if isinstance(fixture("account.json"), dict) else {}),
    "username": "alice",
    "acct": "alice",  # local there: example.org is the server's LOCAL_DOMAIN
    "url": "https://social.example.org/@alice",
}


class SplitDomain:
    """A server with LOCAL_DOMAIN example.org and WEB_DOMAIN ``api`` (Mastodon admin/config.md).

    example.org is a website: it redirects ``/.well-known/webfinger`` with a 301, as the docs'
    nginx example does, and answers anything else with an HTML 404.
    """

    def __init__(self, api: str = "social.example.org") -> None:
        self.api = api
        self.named = api  # the host WebFinger names
        self.down: set[str] = set()
        self.timeline = Timeline("statuses_p1.json", "statuses_p2.json")
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        host, path = request.url.host, request.url.path
        if host in self.down:
            raise httpx.ConnectError("Connection refused", request=request)
        if host == "example.org" and path == "/.well-known/webfinger":
            target = f"https://{self.named}{path}?{request.url.query.decode()}"
            return httpx.Response(301, headers={"Location": target})
        if host == self.api and path == "/.well-known/webfinger":
            if request.url.params.get("resource") != "acct:alice@example.org":
                return httpx.Response(404)
            return httpx.Response(
                200, json=jrd(self.named), headers={"Content-Type": "application/jrd+json"}
            )
        if host == self.api and path == "/api/v1/accounts/lookup":
            if request.url.params.get("acct") not in ("alice", "alice@example.org"):
                return httpx.Response(404, json={"error": "Record not found"})
            return httpx.Response(200, json=SPLIT_ACCOUNT, headers={"Date": DATE, **RATE})
        if host == self.api and path == STATUSES:
            return self.timeline(request)
        return httpx.Response(404, text="<html><h1>Not Found</h1></html>")

    def hosts(self) -> list[tuple[str, str]]:
        return [(r.url.host, r.url.path) for r in self.requests]


def jrd(host: str) -> dict[str, object]:
    """WebFinger's answer for a local account (app/serializers/webfinger_serializer.rb)."""
    return {
        "subject": "acct:alice@example.org",
        "aliases": [f"https://{host}/@alice", f"https://{host}/users/alice"],
        "links": [
            {
                "rel": "http://webfinger.net/rel/profile-page",
                "type": "text/html",
                "href": f"https://{host}/@alice",
            },
            {
                "rel": "self",
                "type": "application/activity+json",
                "href": f"https://{host}/users/alice",
            },
            {
                "rel": "http://ostatus.org/schema/1.0/subscribe",
                "template": f"https://{host}/authorize_interaction?uri={{uri}}",
            },
        ],
    }


def split(fediverse: SplitDomain, **options: object) -> MastodonConnector:
    client = httpx.AsyncClient(transport=httpx.MockTransport(fediverse), follow_redirects=True)
    return MastodonConnector(client, PlatformOptions(**options))  # type: ignore[arg-type]


async def test_an_account_whose_server_runs_on_another_host_is_found_through_webfinger() -> None:
    fediverse = SplitDomain()
    result = await split(fediverse).fetch(SPLIT, since=None, checkpoint=Checkpoint())
    assert fediverse.hosts()[:4] == [
        ("example.org", "/api/v1/accounts/lookup"),  # a website: HTML 404
        ("example.org", "/.well-known/webfinger"),  # 301 to the server
        ("social.example.org", "/.well-known/webfinger"),
        ("social.example.org", "/api/v1/accounts/lookup"),
    ]
    assert fediverse.requests[3].url.params["acct"] == "alice@example.org"
    assert {h for h, _ in fediverse.hosts()[4:]} == {"social.example.org"}
    assert len(result.posts) == 6
    assert result.profile is not None
    assert result.profile.url == "https://social.example.org/@alice"


async def test_the_host_found_is_remembered_so_an_unchanged_poll_is_one_request() -> None:
    fediverse = SplitDomain()
    conn = split(fediverse)
    first = await conn.fetch(SPLIT, since=None, checkpoint=Checkpoint())
    fediverse.requests.clear()
    since = at("2026-11-25T10:15:00.901+00:00")
    second = await conn.fetch(SPLIT, since=since, checkpoint=first.checkpoint)
    assert fediverse.hosts() == [("social.example.org", STATUSES)]
    assert second.not_modified


async def test_a_remembered_host_that_stops_answering_is_looked_up_again_once() -> None:
    fediverse = SplitDomain()
    first = await split(fediverse).fetch(SPLIT, since=None, checkpoint=Checkpoint())

    moved = SplitDomain(api="mastodon.example.org")
    moved.down = {"social.example.org"}
    since = at("2026-11-25T10:15:00.901+00:00")
    second = await split(moved).fetch(SPLIT, since=since, checkpoint=first.checkpoint)
    assert moved.hosts()[:4] == [
        ("social.example.org", STATUSES),  # refused
        ("example.org", "/.well-known/webfinger"),
        ("mastodon.example.org", "/.well-known/webfinger"),
        ("mastodon.example.org", "/api/v1/accounts/lookup"),
    ]
    assert second.profile is not None

    moved.requests.clear()
    third = await split(moved).fetch(SPLIT, since=since, checkpoint=second.checkpoint)
    assert moved.hosts() == [("mastodon.example.org", STATUSES)]
    assert third.not_modified


async def test_a_remembered_host_that_webfinger_still_names_fails_with_its_own_error() -> None:
    fediverse = SplitDomain()
    first = await split(fediverse).fetch(SPLIT, since=None, checkpoint=Checkpoint())
    fediverse.requests.clear()
    fediverse.down = {"social.example.org"}
    with pytest.raises(ConnectorError) as caught:
        await split(fediverse).fetch(SPLIT, since=None, checkpoint=first.checkpoint)
    assert caught.value.kind == "transient"
    assert "social.example.org" in str(caught.value)
    assert fediverse.hosts() == [
        ("social.example.org", STATUSES),
        ("example.org", "/.well-known/webfinger"),
        ("social.example.org", "/.well-known/webfinger"),  # refused too: no more tries
    ]


async def test_base_url_reads_every_account_there_without_webfinger() -> None:
    fediverse = SplitDomain()
    with pytest.raises(ConnectorError) as caught:
        await split(fediverse, base_url="https://proxy.example.net").fetch(
            SPLIT, since=None, checkpoint=Checkpoint()
        )
    assert caught.value.kind == "not_found"
    assert {h for h, _ in fediverse.hosts()} == {"proxy.example.net"}


async def test_an_account_on_its_own_server_costs_no_webfinger() -> None:
    server = Server()
    await connector(server).fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert not [r for r in server.requests if r.url.path.startswith("/.well-known")]


async def test_webfinger_that_names_no_https_host_is_not_followed() -> None:
    fediverse = SplitDomain()
    plain = jrd("social.example.org")
    plain["links"] = [
        {**link, "href": str(link.get("href", "")).replace("https:", "http:")}
        for link in jrd("social.example.org")["links"]  # type: ignore[attr-defined]
    ]

    def insecure(request: httpx.Request) -> httpx.Response:
        if request.url.host == fediverse.api and request.url.path == "/.well-known/webfinger":
            fediverse.requests.append(request)
            return httpx.Response(200, json=plain)
        return fediverse(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(insecure), follow_redirects=True)
    with pytest.raises(ConnectorError) as caught:
        await MastodonConnector(client, PlatformOptions()).fetch(
            SPLIT, since=None, checkpoint=Checkpoint()
        )
    assert caught.value.kind == "not_found"
    assert ("social.example.org", "/api/v1/accounts/lookup") not in fediverse.hosts()
    assert ("social.example.org", "/.well-known/webfinger") in fediverse.hosts()


async def test_an_account_without_statuses_is_looked_up_to_tell_it_from_a_suspended_one() -> None:
    server = Server(statuses=lambda request: httpx.Response(200, json=[], headers=RATE))
    conn = connector(server)
    first = await conn.fetch(HANDLE, since=None, checkpoint=Checkpoint())
    assert first.posts == ()
    assert first.checkpoint.extra["newest"] == ""

    server.requests.clear()
    second = await conn.fetch(HANDLE, since=None, checkpoint=first.checkpoint)
    assert [r.url.path for r in server.requests] == [STATUSES, LOOKUP]  # statuses: [] either way
    assert second.not_modified

    server.lookup = lambda request: reply("account_suspended.json")
    with pytest.raises(ConnectorError) as caught:
        await conn.fetch(HANDLE, since=None, checkpoint=first.checkpoint)
    assert caught.value.kind == "not_found"


async def test_a_remembered_host_that_no_longer_knows_the_account_is_looked_up_again_once() -> None:
    fediverse = SplitDomain()
    first = await split(fediverse).fetch(SPLIT, since=None, checkpoint=Checkpoint())

    moved = SplitDomain(api="mastodon.example.org")  # social.example.org: HTML 404 for all
    second = await split(moved).fetch(SPLIT, since=None, checkpoint=first.checkpoint)
    assert moved.hosts()[:6] == [
        ("social.example.org", STATUSES),
        ("social.example.org", "/api/v1/accounts/lookup"),  # the account may be new there
        ("example.org", "/.well-known/webfinger"),
        ("mastodon.example.org", "/.well-known/webfinger"),
        ("mastodon.example.org", "/api/v1/accounts/lookup"),
        ("mastodon.example.org", STATUSES),
    ]
    assert second.checkpoint.extra["api"] == "https://mastodon.example.org"
    assert len(second.posts) == 6


async def test_a_host_webfinger_names_that_only_holds_a_copy_of_the_account_is_refused() -> None:
    fediverse = SplitDomain()
    remote = {**SPLIT_ACCOUNT, "acct": "alice@example.org"}  # known there, but from elsewhere

    def copy(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/accounts/lookup" and request.url.host == fediverse.api:
            fediverse.requests.append(request)
            return httpx.Response(200, json=remote, headers=RATE)
        return fediverse(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(copy), follow_redirects=True)
    with pytest.raises(ConnectorError) as caught:
        await MastodonConnector(client, PlatformOptions()).fetch(
            SPLIT, since=None, checkpoint=Checkpoint()
        )
    assert caught.value.kind == "not_found"
    assert "not the home of alice@example.org" in str(caught.value)
    assert ("social.example.org", STATUSES) not in fediverse.hosts()
