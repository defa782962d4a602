"""The Facebook and Instagram connectors against the fake Graph server over loopback."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from connectors.base import ChannelRef, Checkpoint, Connector, FetchResult, PlatformOptions
from connectors.errors import ConnectorError, RateLimited
from connectors.facebook import FacebookConnector
from connectors.instagram import InstagramConnector
from monitor.fakes._graph_wire import DEFAULT_APP_ID, appsecret_proof
from monitor.fakes.graph import AccountSpec, GraphServer, PageSpec, parse_fields

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TOKEN = "SECRET-TOKEN-123"
APP_SECRET = "5e1f0c2b9a8d7e6f5a4b3c2d1e0f9a8b"
OWN_ID = "17841400000000001"


def every(days: float, count: int, newest_days_ago: float = 0.5) -> list[datetime]:
    return [NOW - timedelta(days=newest_days_ago + i * days) for i in range(count)]


def specs() -> GraphServer:
    return GraphServer(
        pages=[
            PageSpec(
                id="1001",
                username="gemeente",
                name="Gemeente Voorbeeld",
                followers=4200,
                fan_count=4000,
                posts=every(1, 230),
                paging="cursor",
                empty_page_after=1,
                short_pages=True,
            ),
            PageSpec(
                id="1002",
                username="provincie",
                fan_count=900,
                posts=every(2, 150),
                paging="time",
                empty_page_after=1,
                usage=None,
            ),
            PageSpec(id="1003", username="stil", posts=every(20, 3, newest_days_ago=40)),
        ],
        accounts=[
            AccountSpec(
                id=OWN_ID,
                username="gemeente.voorbeeld",
                name="Gemeente Voorbeeld",
                followers=800,
                media=every(1.5, 120),
                empty_page_after=1,
            ),
            AccountSpec(id="17841400000000002", username="waterschap", media=every(3, 120)),
            AccountSpec(id="17841400000000003", username="leeg"),
            AccountSpec(id="17841400000000004", username="persoonlijk", professional=False),
        ],
        access_token=TOKEN,
    )


@pytest.fixture
async def server() -> AsyncIterator[GraphServer]:
    graph = specs()
    await graph.start()
    yield graph
    await graph.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as shared:
        yield shared


def options(server: GraphServer, **changes: object) -> PlatformOptions:
    settings = {"base_url": server.base_url, "access_token": TOKEN, "account_id": OWN_ID}
    return PlatformOptions(**{**settings, **changes})  # type: ignore[arg-type]


async def read(connector: Connector, handle: str, **kwargs: object) -> FetchResult:
    kwargs.setdefault("since", None)
    kwargs.setdefault("checkpoint", Checkpoint())
    result = await connector.fetch(ChannelRef(handle), **kwargs)  # type: ignore[arg-type]
    assert TOKEN not in repr(result)
    return result


async def failure(connector: Connector, handle: str) -> ConnectorError:
    with pytest.raises(ConnectorError) as caught:
        await read(connector, handle)
    assert TOKEN not in str(caught.value)
    return caught.value


def newest(result: FetchResult) -> datetime:
    return max(p.published_at for p in result.posts if p.published_at)


async def requests_per_unchanged_poll(
    connector: Connector, server: GraphServer, handle: str, polls: int = 100
) -> float:
    """Average requests a poll costs once the daemon knows everything the channel has."""
    first = await read(connector, handle)
    since, checkpoint = newest(first), first.checkpoint
    server.reset_log()
    for _ in range(polls):
        result = await read(connector, handle, since=since, checkpoint=checkpoint)
        assert all(p.published_at == since for p in result.posts)
        checkpoint = result.checkpoint
    assert server.duplicate_tokens == 0
    return server.count() / polls


async def caught_up(connector: Connector, handle: str, polls: int) -> set[str]:
    """Every post id read by polling as the daemon would until no gap is left open."""
    seen: set[str] = set()
    since: datetime | None = None
    checkpoint = Checkpoint()
    for _ in range(polls):
        result = await read(connector, handle, since=since, checkpoint=checkpoint)
        seen |= {p.post_id for p in result.posts}
        times = [p.published_at for p in result.posts if p.published_at]
        since = max([*times, since]) if since else max(times)
        checkpoint = result.checkpoint
        if not checkpoint.extra:
            return seen
    raise AssertionError(f"a gap is still open after {polls} polls: {checkpoint.extra}")


# -- Facebook --------------------------------------------------------------------------------


async def test_cursor_paging_with_short_and_empty_pages(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    result = await read(FacebookConnector(client, options(server)), "gemeente")
    assert len({p.post_id for p in result.posts}) == 230
    assert all(p.post_id.startswith("1001_") for p in result.posts)
    assert server.count() == 4  # 99 + empty page with next + 99 + 32
    assert server.duplicate_tokens == 0
    assert all(len([k for k, _ in r.query if k == "access_token"]) == 1 for r in server.requests)
    assert result.profile is not None
    assert (result.profile.name, result.profile.followers) == ("Gemeente Voorbeeld", 4200)
    assert result.quota_used_ratio == pytest.approx(0.07)


async def test_time_based_paging_by_numeric_id(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    result = await read(FacebookConnector(client, options(server)), "1002")
    assert len({p.post_id for p in result.posts}) == 150
    assert server.count() == 3  # 100 + empty page with next + 50
    assert any(r.param("__paging_token") for r in server.requests)
    assert result.profile is not None
    assert result.profile.followers == 900  # fan_count, as followers_count is absent
    assert result.quota_used_ratio is None  # no usage headers this time


@pytest.mark.parametrize("paging", ["cursor", "time"])
async def test_an_empty_first_page_with_next_is_not_the_end(
    server: GraphServer, client: httpx.AsyncClient, paging: str
) -> None:
    server.set("stil", paging=paging, empty_page_after=0)
    result = await read(FacebookConnector(client, options(server)), "stil")
    assert len(result.posts) == 3
    assert server.count() == 2


async def test_page_limit_spreads_history_over_polls(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    fb = FacebookConnector(client, options(server, page_limit=2))
    assert len(await caught_up(fb, "gemeente", polls=10)) == 230


async def test_new_posts_are_found_with_since(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    fb = FacebookConnector(client, options(server))
    first = await read(fb, "stil")
    since = newest(first)
    server.set("stil", posts=[NOW, *every(20, 3, newest_days_ago=40)])
    server.reset_log()
    second = await read(fb, "stil", since=since, checkpoint=first.checkpoint)
    assert [p.published_at for p in second.posts if p.published_at != since] == [NOW]
    assert server.count() == 1
    assert f"posts.since({int(since.timestamp())})" in (server.requests[0].param("fields") or "")


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"behaviour": "token_expired"}, "auth"),
        ({"behaviour": "throttled", "throttle_code": 32}, "rate_limited"),
        ({"behaviour": "throttled", "throttle_code": 80001}, "rate_limited"),
        ({"behaviour": "unsupported"}, "not_found"),
        ({"behaviour": "blocked"}, "rate_limited"),
        ({"behaviour": "not_found"}, "not_found"),
        ({"behaviour": "ppca_missing", "ppca_code": 100}, "auth"),
        ({"behaviour": "ppca_missing", "ppca_code": 10}, "auth"),
        ({"behaviour": "server_error"}, "transient"),
        ({"behaviour": "malformed"}, "malformed"),
    ],
)
async def test_page_behaviours(
    server: GraphServer, client: httpx.AsyncClient, changes: dict[str, object], kind: str
) -> None:
    server.set("gemeente", **changes)
    error = await failure(FacebookConnector(client, options(server)), "gemeente")
    assert error.kind == kind
    if isinstance(error, RateLimited) and changes["behaviour"] == "throttled":
        assert error.retry_after == 300.0  # 5 minutes
        assert getattr(error, "quota_used_ratio", None) == 1.0
        assert (error.scope, error.scope_id) == ("object", "1001")


@pytest.mark.parametrize(("handle", "kind"), [("verhuisd", "not_found"), ("999999", "not_found")])
async def test_unknown_pages(
    server: GraphServer, client: httpx.AsyncClient, handle: str, kind: str
) -> None:
    error = await failure(FacebookConnector(client, options(server)), handle)
    assert error.kind == kind


async def test_a_wrong_token_is_auth(server: GraphServer, client: httpx.AsyncClient) -> None:
    error = await failure(
        FacebookConnector(client, options(server, access_token="other")), "gemeente"
    )
    assert error.kind == "auth"


# -- Instagram -------------------------------------------------------------------------------


async def test_own_account_pages_through_media(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    result = await read(InstagramConnector(client, options(server)), OWN_ID)
    assert len({p.post_id for p in result.posts}) == 120
    assert server.count() == 4  # 50 + empty page with next + 50 + 20
    assert server.count(f"/v26.0/{OWN_ID}/media") == 3
    assert server.duplicate_tokens == 0
    assert result.profile is not None
    assert result.profile.url == "https://www.instagram.com/gemeente.voorbeeld/"
    assert result.checkpoint.extra["media_count"] == "120"


async def test_business_discovery_pages_through_nested_cursors(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    result = await read(InstagramConnector(client, options(server)), "waterschap")
    assert len({p.post_id for p in result.posts}) == 120
    assert server.count(f"/v26.0/{OWN_ID}") == 3
    assert "media.after(" in (server.requests[1].param("fields") or "")


async def test_an_account_without_media(server: GraphServer, client: httpx.AsyncClient) -> None:
    ig = InstagramConnector(client, options(server))
    first = await read(ig, "leeg")
    assert first.posts == ()
    assert first.checkpoint.extra == {"media_count": "0"}
    server.reset_log()
    second = await read(ig, "leeg", checkpoint=first.checkpoint)
    assert second.not_modified
    assert server.count() == 1


@pytest.mark.parametrize(
    ("handle", "changes", "kind"),
    [
        ("persoonlijk", {}, "not_found"),
        ("bestaatniet", {}, "not_found"),
        ("waterschap", {"behaviour": "token_expired"}, "auth"),
        ("waterschap", {"behaviour": "throttled"}, "rate_limited"),
        ("waterschap", {"behaviour": "server_error"}, "transient"),
        ("waterschap", {"behaviour": "malformed"}, "malformed"),
        ("waterschap", {"behaviour": "not_found"}, "not_found"),
        (OWN_ID, {"behaviour": "token_expired"}, "auth"),
        (OWN_ID, {"behaviour": "ppca_missing"}, "auth"),
        (OWN_ID, {"behaviour": "throttled"}, "rate_limited"),
    ],
)
async def test_account_behaviours(
    server: GraphServer,
    client: httpx.AsyncClient,
    handle: str,
    changes: dict[str, object],
    kind: str,
) -> None:
    if changes:
        server.set(handle, **changes)
    error = await failure(InstagramConnector(client, options(server)), handle)
    assert error.kind == kind


# -- requests per unchanged poll -------------------------------------------------------------


@pytest.mark.parametrize("handle", ["gemeente", "1002", "stil"])
async def test_an_unchanged_page_costs_one_request_per_poll(
    server: GraphServer, client: httpx.AsyncClient, handle: str
) -> None:
    fb = FacebookConnector(client, options(server))
    assert await requests_per_unchanged_poll(fb, server, handle) == 1.0


@pytest.mark.parametrize("handle", [OWN_ID, "waterschap"])
async def test_an_unchanged_instagram_account_costs_one_request_per_poll(
    server: GraphServer, client: httpx.AsyncClient, handle: str
) -> None:
    ig = InstagramConnector(client, options(server))
    assert await requests_per_unchanged_poll(ig, server, handle) == 1.0
    assert all("limit(1)" in (r.param("fields") or "") for r in server.requests)


# -- Reels -----------------------------------------------------------------------------------


def reels_page(**changes: object) -> PageSpec:
    """A Page that now posts mostly Reels: its posts edge alone looks stale."""
    spec = PageSpec(
        id="1020",
        username="reels",
        posts=every(30, 3, newest_days_ago=45),
        reels=[*every(1, 150), NOW - timedelta(days=45)],  # one Reel in the same second as a post
    )
    return dataclasses.replace(spec, **changes)


async def test_a_page_that_posts_reels_is_read_whole(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    server.pages.append(reels_page(empty_page_after=1, short_pages=True))
    result = await read(FacebookConnector(client, options(server)), "reels")
    ids = {p.post_id for p in result.posts}
    assert len(ids) == 3 + 151  # the Reel sharing a second with a post is counted apart
    assert newest(result) == NOW - timedelta(days=0.5)
    assert {p.kind for p in result.posts} == {"post"}
    # 1 (Page, both edges) + reels: empty page with next, then 99 + 52 … short pages
    assert server.count("/v26.0/1020/video_reels") == 2
    assert server.count("/v26.0/1020/posts") == 0


async def test_an_unchanged_page_with_reels_costs_one_request(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    server.pages.append(reels_page())
    fb = FacebookConnector(client, options(server))
    assert await requests_per_unchanged_poll(fb, server, "reels") == 1.0
    assert "video_reels.since(" in (server.requests[-1].param("fields") or "")


@pytest.mark.parametrize("paging", ["cursor", "time"])
async def test_page_limit_spreads_posts_and_reels_over_polls(
    server: GraphServer, client: httpx.AsyncClient, paging: str
) -> None:
    spec = reels_page(posts=every(1, 230), paging=paging, empty_page_after=2, short_pages=True)
    server.pages.append(spec)
    fb = FacebookConnector(client, options(server, page_limit=2))
    assert len(await caught_up(fb, "reels", polls=20)) == 230 + 151


# -- app secret proof and tokens -------------------------------------------------------------


async def test_an_app_that_requires_the_proof_refuses_calls_without_it(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    server.app_secret, server.require_proof = APP_SECRET, True
    error = await failure(FacebookConnector(client, options(server)), "gemeente")
    assert error.kind == "auth"
    assert "require an appsecret_proof" in str(error)

    fb = FacebookConnector(client, options(server, app_secret=APP_SECRET))
    server.reset_log()
    result = await read(fb, "gemeente")
    assert len(result.posts) == 230
    proof = appsecret_proof(APP_SECRET, TOKEN)
    assert server.count() == 4
    assert all(r.param("appsecret_proof") == proof for r in server.requests)
    assert server.duplicate_proofs == 0
    assert server.duplicate_tokens == 0


async def test_a_wrong_app_secret_is_auth(server: GraphServer, client: httpx.AsyncClient) -> None:
    server.app_secret = APP_SECRET
    fb = FacebookConnector(client, options(server, app_secret="not-the-app-secret"))
    error = await failure(fb, "gemeente")
    assert error.kind == "auth"
    assert "Invalid appsecret_proof" in str(error)
    assert "not-the-app-secret" not in str(error)


async def test_other_pages_need_the_proof_or_an_app_token(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    server.app_secret = APP_SECRET
    server.pages.append(reels_page(managed=False))
    error = await failure(FacebookConnector(client, options(server)), "reels")
    assert error.kind == "auth"
    assert "requires either app secret proof or an app token" in str(error)
    with_proof = FacebookConnector(client, options(server, app_secret=APP_SECRET))
    assert len((await read(with_proof, "reels")).posts) == 154
    app_token = f"{DEFAULT_APP_ID}|{APP_SECRET}"
    as_app = FacebookConnector(client, options(server, access_token=app_token))
    server.reset_log()
    result = await as_app.fetch(ChannelRef("reels"), since=None, checkpoint=Checkpoint())
    assert len(result.posts) == 154
    assert server.count() == 2
    assert all(r.param("appsecret_proof") is None for r in server.requests)


# -- throttles by scope ----------------------------------------------------------------------


@pytest.mark.parametrize(("code", "scope"), [(4, "app"), (17, "token"), (613, "token")])
async def test_an_app_or_user_throttle_refuses_every_call(
    server: GraphServer, client: httpx.AsyncClient, code: int, scope: str
) -> None:
    server.throttled = code
    for connector, handle in [
        (FacebookConnector(client, options(server)), "gemeente"),
        (FacebookConnector(client, options(server)), "provincie"),
        (InstagramConnector(client, options(server)), "waterschap"),
    ]:
        error = await failure(connector, handle)
        assert isinstance(error, RateLimited)
        assert (error.scope, error.scope_id) == (scope, None)


async def test_a_page_throttle_holds_back_that_page_only(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    server.set("gemeente", behaviour="throttled", throttle_code=80001, regain_minutes=9)
    fb = FacebookConnector(client, options(server))
    error = await failure(fb, "gemeente")
    assert isinstance(error, RateLimited)
    assert (error.scope, error.scope_id, error.retry_after) == ("object", "1001", 540.0)
    assert len((await read(fb, "provincie")).posts) == 150


async def test_business_discovery_throttles_name_the_asking_account(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    server.set("waterschap", behaviour="throttled", regain_minutes=4)
    error = await failure(InstagramConnector(client, options(server)), "waterschap")
    assert isinstance(error, RateLimited)
    assert (error.scope, error.retry_after) == ("token", 240.0)


async def test_the_quota_read_is_the_polled_pages_own(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    server.set("gemeente", usage=95)
    server.set("provincie", usage=4)
    fb = FacebookConnector(client, options(server))
    assert (await read(fb, "gemeente")).quota_used_ratio == pytest.approx(0.95)
    assert (await read(fb, "provincie")).quota_used_ratio == pytest.approx(0.04)
    server.app_usage = 30  # the app's share counts for every Page
    assert (await read(fb, "provincie")).quota_used_ratio == pytest.approx(0.30)


# -- paging ends only where Graph says -------------------------------------------------------


async def test_business_discovery_reads_through_short_and_empty_nested_pages(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    server.set("waterschap", empty_page_after=1, short_pages=True)
    result = await read(InstagramConnector(client, options(server)), "waterschap")
    assert len({p.post_id for p in result.posts}) == 120
    assert server.count(f"/v26.0/{OWN_ID}") == 4  # 49 + an empty page with a cursor + 49 + 22


async def test_an_unknown_numeric_id_says_it_may_be_missing_or_forbidden(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    error = await failure(FacebookConnector(client, options(server)), "999999")
    assert error.kind == "not_found"
    assert "does not exist, or this token may not read it" in str(error)


# -- wire details ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fields", "message"),
    [
        (
            "gemeente",
            "id,bogus",
            "(#100) Tried accessing nonexisting field (bogus) on node type (Page)",
        ),
        (
            "gemeente",
            "video_reels{id,message}",
            "(#100) Tried accessing nonexisting field (message) on node type (Video)",
        ),
        (
            "gemeente/posts",
            "id,caption",
            "(#100) Tried accessing nonexisting field (caption) on node type (PagePost)",
        ),
        (
            OWN_ID,
            "media_count,fan_count",
            "(#100) Tried accessing nonexisting field (fan_count) on node type (IGUser)",
        ),
        (
            f"{OWN_ID}/media",
            "id,created_time",
            "(#100) Tried accessing nonexisting field (created_time) on node type (IGMedia)",
        ),
    ],
)
async def test_fields_a_node_does_not_have_are_refused(
    server: GraphServer, client: httpx.AsyncClient, path: str, fields: str, message: str
) -> None:
    params = {"fields": fields, "access_token": TOKEN}
    response = await client.get(f"{server.base_url}/v26.0/{path}", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["message"], error["code"], error["type"]) == (message, 100, "OAuthException")


async def test_paging_links_carry_the_proof_that_was_sent(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    server.app_secret = APP_SECRET
    proof = appsecret_proof(APP_SECRET, TOKEN)
    params = {"fields": "id,created_time", "limit": "5", "access_token": TOKEN}
    response = await client.get(
        f"{server.base_url}/v26.0/1002/posts", params={**params, "appsecret_proof": proof}
    )
    link = httpx.URL(response.json()["paging"]["next"])
    assert link.params["appsecret_proof"] == proof
    assert link.params["access_token"] == TOKEN
    assert link.params["since"] == ""  # time-based paging keeps its blank parameters


# -- wire details, continued -----------------------------------------------------------------


async def test_gzip_version_header_and_token_bearing_next_links(
    server: GraphServer, client: httpx.AsyncClient
) -> None:
    params = {"fields": "posts.limit(5){id,created_time}", "access_token": TOKEN}
    response = await client.get(f"{server.base_url}/v25.0/gemeente", params=params)
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["facebook-api-version"] == "v25.0"
    assert response.headers["cache-control"] == "private, no-cache, no-store, must-revalidate"
    assert json.loads(response.headers["x-business-use-case-usage"])["1001"][0]["call_count"] == 7
    body = response.json()
    assert httpx.URL(body["posts"]["paging"]["next"]).params["access_token"] == TOKEN
    server.served_version = "v26.0"
    again = await client.get(f"{server.base_url}/v25.0/gemeente", params=params)
    assert again.headers["facebook-api-version"] == "v26.0"


async def test_graph_error_envelope(server: GraphServer, client: httpx.AsyncClient) -> None:
    server.set("gemeente", behaviour="throttled", throttle_code=80001, regain_minutes=3)
    response = await client.get(f"{server.base_url}/v26.0/gemeente", params={"access_token": TOKEN})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("OAuthException", 80001)
    assert response.headers["www-authenticate"].startswith('OAuth "Facebook Platform"')
    usage = json.loads(response.headers["x-business-use-case-usage"])
    assert usage["1001"][0]["estimated_time_to_regain_access"] == 3


def test_fields_parser() -> None:
    parsed = parse_fields(
        "id,business_discovery.username(a.b){media.after(QV=).limit(2){id,timestamp}},name"
    )
    assert [f.name for f in parsed] == ["id", "business_discovery", "name"]
    discovery = parsed[1]
    assert discovery.mods == {"username": "a.b"}
    assert discovery.sub[0].mods == {"after": "QV=", "limit": "2"}
    assert [f.name for f in discovery.sub[0].sub] == ["id", "timestamp"]


def test_command_line_serves_a_spec_until_sigterm(tmp_path: Path) -> None:
    spec = {
        "access_token": TOKEN,
        "pages": [
            {"id": "1", "username": "a", "posts": ["2026-11-20T10:00:00+00:00"]},
            {
                "id": "2",
                "username": "b",
                "posts": {"every_days": 3, "count": 20, "newest_days_ago": 1},
            },
        ],
        "accounts": [{"id": "9", "username": "c", "media": {"every_days": 2, "count": 4}}],
    }
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(spec))
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.fakes.graph", "--port", "0", "--spec", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base = process.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        params = {"fields": "id,posts{id,created_time}", "access_token": TOKEN}
        body = httpx.get(f"{base}/v26.0/b", params=params).json()
        assert len(body["posts"]["data"]) == 20
        media = httpx.get(f"{base}/v26.0/9/media", params={"access_token": TOKEN}).json()
        assert len(media["data"]) == 4
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
