"""FacebookConnector over httpx.MockTransport, with payloads shaped like recorded responses."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from connectors.base import ChannelRef, Checkpoint, FetchResult, PlatformOptions
from connectors.errors import ConnectorError, RateLimited
from connectors.facebook import FacebookConnector

FIXTURES = Path(__file__).parent / "fixtures" / "facebook"
TOKEN = "SECRET-TOKEN-123"
APP_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
PROOF = hmac.new(APP_SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
BASE = "https://graph.facebook.com"
PAGE = "gemeentevoorbeeld"

Reply = tuple[str, int, dict[str, str]]  # fixture file, status, headers


class Graph:
    """Answers requests with fixtures in order and keeps every request it saw."""

    def __init__(self, replies: Sequence[Reply | str]) -> None:
        self.replies = [(r, 200, {}) if isinstance(r, str) else r for r in replies]
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        assert self.replies, f"unexpected request {request.url.path}"
        name, status, headers = self.replies.pop(0)
        content_type = "text/html" if name.endswith(".html") else "application/json"
        return httpx.Response(
            status,
            content=(FIXTURES / name).read_bytes(),
            headers={"content-type": content_type, **headers},
        )


def connector(graph: Graph, **options: object) -> FacebookConnector:
    client = httpx.AsyncClient(transport=httpx.MockTransport(graph))
    settings = {"base_url": BASE, "api_version": "v26.0", "access_token": TOKEN, **options}
    return FacebookConnector(client, PlatformOptions(**settings))  # type: ignore[arg-type]


async def fetch(
    replies: Sequence[Reply | str],
    *,
    since: datetime | None = None,
    checkpoint: Checkpoint | None = None,
    handle: str = PAGE,
    **options: object,
) -> tuple[FetchResult, Graph]:
    graph = Graph(replies)
    result = await connector(graph, **options).fetch(
        ChannelRef(handle), since=since, checkpoint=checkpoint or Checkpoint()
    )
    assert not graph.replies, "not every prepared response was requested"
    assert_token_sent_once(graph)
    assert TOKEN not in repr(result)
    return result, graph


async def failure(replies: Sequence[Reply | str], **kwargs: object) -> ConnectorError:
    graph = Graph(replies)
    with pytest.raises(ConnectorError) as caught:
        await connector(graph).fetch(ChannelRef(PAGE), since=None, checkpoint=Checkpoint())
    error = caught.value
    assert TOKEN not in str(error)
    assert TOKEN not in repr(vars(error))
    assert error.__cause__ is None
    return error


def assert_token_sent_once(graph: Graph) -> None:
    for request in graph.seen:
        assert request.url.params.get_list("access_token") == [TOKEN], request.url
        assert str(request.url).count(TOKEN) == 1


def fields(request: httpx.Request) -> str:
    return request.url.params.get("fields") or ""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- reading ---------------------------------------------------------------------------------


async def test_profile_and_cursor_paging_through_an_empty_page_with_next() -> None:
    result, graph = await fetch(
        ["page_p1_cursor.json", "posts_p2_empty_with_next.json", "posts_p3_last.json"]
    )
    assert [p.post_id for p in result.posts] == [
        "110658944785122_146834744500875",
        "110658944785122_146834744500874",
        "110658944785122_122332100284473",
        "110658944785122_121467247037625",
        "110658944785122_121467247037624",
    ]
    assert result.posts[0].published_at == at("2026-11-20T15:40:44")
    assert all(p.published_at and p.published_at.tzinfo == UTC for p in result.posts)
    assert {p.kind for p in result.posts} == {"post"}
    assert result.profile is not None
    assert result.profile.name == "Gemeente Voorbeeld"
    assert result.profile.url == "https://www.facebook.com/gemeentevoorbeeld/"
    assert result.profile.followers == 12873
    assert result.checkpoint == Checkpoint()

    first, second, third = graph.seen
    assert first.url.path == f"/v26.0/{PAGE}"
    assert fields(first) == (
        "id,name,link,followers_count,fan_count,posts.limit(100){id,created_time},"
        "video_reels.limit(100){id,created_time}"
    )
    assert second.url.path == "/v26.0/110658944785122/posts"
    assert second.url.params["after"].startswith("QVFIUk1h")
    assert second.url.params["fields"] == "id,created_time"
    assert third.url.params["after"] == "MTIyMzMyMTAwMjg0NDcz"


async def test_time_based_paging_keeps_blank_params_and_stops_without_next() -> None:
    result, graph = await fetch(["page_p1_time.json", "posts_time_p2_last.json"], handle="4")
    assert len(result.posts) == 5
    nxt = graph.seen[1].url
    assert nxt.params["until"] == "1782151568"
    assert nxt.params["__paging_token"] == "enc_AdBz1sZCZA8ZCZAqr3UQ"
    assert nxt.params["since"] == ""  # Graph's own blank parameters are passed back as given
    assert "__previous" in nxt.params
    assert result.profile is not None
    assert result.profile.followers == 119926847  # no followers_count: fan_count instead


async def test_posts_without_message_and_plus0000_timestamps_parse() -> None:
    result, _ = await fetch(["page_p1_time.json", "posts_time_p2_last.json"], handle="4")
    assert result.posts[0].published_at == datetime(2026, 7, 4, 19, 50, 58, tzinfo=UTC)


@pytest.mark.parametrize("payload", ["page_no_posts.json", "page_empty_posts.json"])
async def test_a_page_without_posts_in_range_costs_one_request(payload: str) -> None:
    result, graph = await fetch([payload], since=at("2026-11-01T00:00:00"))
    assert result.posts == ()
    assert len(graph.seen) == 1


async def test_since_goes_to_graph_as_unix_seconds_in_the_expansion() -> None:
    since = datetime(2026, 11, 14, 15, 43, 27, 500000, tzinfo=UTC)
    result, graph = await fetch(["page_p1_cursor.json"], since=since)
    assert f"posts.since({int(since.timestamp())}).limit(100)" in fields(graph.seen[0])
    assert f"video_reels.since({int(since.timestamp())}).limit(100)" in fields(graph.seen[0])
    # the page reaches back to ``since``: no need to follow next, older posts are dropped
    assert len(graph.seen) == 1
    assert [p.post_id for p in result.posts] == [
        "110658944785122_146834744500875",
        "110658944785122_146834744500874",
    ]


async def test_page_limit_bounds_a_poll_and_the_rest_is_picked_up_next_time() -> None:
    first, graph = await fetch(
        ["page_p1_cursor.json", "posts_p2_empty_with_next.json"], page_limit=2
    )
    assert len(graph.seen) == 2
    until = str(int(at("2026-11-14T15:43:27").timestamp()))
    assert first.checkpoint.extra == {"resume": until}  # a time, never a cursor or a link

    newest = max(p.published_at for p in first.posts if p.published_at)
    second, graph = await fetch(
        ["page_no_posts.json", "posts_backfill_last.json"],
        since=newest,
        checkpoint=first.checkpoint,
        page_limit=2,
    )
    backfill = graph.seen[1]
    assert backfill.url.path == f"/v26.0/{PAGE}/posts"
    assert backfill.url.params["until"] == until
    assert "since" not in backfill.url.params  # the first poll reads all the way back
    assert [p.post_id for p in second.posts][-1] == "110658944785122_121467247037625"
    assert second.checkpoint.extra == {}

    third, graph = await fetch(["page_no_posts.json"], since=newest, checkpoint=second.checkpoint)
    assert len(graph.seen) == 1
    assert third.posts == ()


async def test_a_gap_left_by_a_later_poll_is_bounded_by_its_since() -> None:
    since = at("2026-11-01T00:00:00")
    result, _ = await fetch(["page_p1_cursor.json"], since=since, page_limit=1)
    assert result.checkpoint.extra == {
        "resume": str(int(at("2026-11-14T15:43:27").timestamp())),
        "resume_since": str(int(since.timestamp())),
    }


async def test_next_links_on_another_host_are_re_rooted_on_base_url() -> None:
    graph = Graph(["page_p1_cursor.json", "posts_p2_empty_with_next.json", "posts_p3_last.json"])
    proxied = connector(graph, base_url="http://127.0.0.1:9/graph")
    await proxied.fetch(ChannelRef(PAGE), since=None, checkpoint=Checkpoint())
    assert {r.url.host for r in graph.seen} == {"127.0.0.1"}
    assert graph.seen[1].url.path == "/graph/v26.0/110658944785122/posts"
    assert_token_sent_once(graph)


async def test_invalid_handles_are_refused_without_a_request() -> None:
    graph = Graph([])
    with pytest.raises(ConnectorError) as caught:
        await connector(graph).fetch(ChannelRef("../me"), since=None, checkpoint=Checkpoint())
    assert caught.value.kind == "not_found"
    assert graph.seen == []


# -- Reels -----------------------------------------------------------------------------------


async def test_reels_come_with_the_page_and_count_as_posts() -> None:
    result, graph = await fetch(["page_with_reels.json", "reels_p2_last.json"])
    assert "video_reels.limit(100){id,created_time}" in fields(graph.seen[0])
    assert [p.post_id for p in result.posts] == [
        "110658944785122_122332100284473",
        "1595086478922888",
        "1595086478922870",
        "1122332100284473",  # the same second as the post: both count
        "1595086478922811",
        "1595086478922805",
    ]
    assert {p.kind for p in result.posts} == {"post"}
    assert result.posts[1].published_at == at("2026-11-21T14:03:53")
    more = graph.seen[1]
    assert more.url.path == "/v26.0/110658944785122/video_reels"
    assert more.url.params["after"] == "QVFIUnJlZAWxzMw"
    assert result.checkpoint == Checkpoint()


async def test_reels_left_over_are_resumed_from_their_cursor() -> None:
    first, graph = await fetch(["page_with_reels.json"], page_limit=1)
    assert len(graph.seen) == 1
    assert first.checkpoint.extra == {"reels_resume": "QVFIUnJlZAWxzMw"}  # never the link
    newest = max(p.published_at for p in first.posts if p.published_at)
    second, graph = await fetch(
        ["page_no_posts.json", "reels_p2_last.json"],
        since=newest,
        checkpoint=first.checkpoint,
        page_limit=2,
    )
    backfill = graph.seen[1]
    assert backfill.url.path == f"/v26.0/{PAGE}/video_reels"
    assert backfill.url.params["after"] == "QVFIUnJlZAWxzMw"
    assert [p.post_id for p in second.posts] == ["1595086478922811", "1595086478922805"]
    assert second.checkpoint.extra == {}


async def test_each_edge_keeps_its_own_resume_position() -> None:
    since = at("2026-11-01T00:00:00")
    result, _ = await fetch(["page_p1_cursor.json"], since=since, page_limit=1)
    posts_gap = dict(result.checkpoint.extra)
    both = Checkpoint(extra={**posts_gap, "reels_resume": "QVFIUnJlZAWxzMw"})
    later = at("2026-11-20T15:40:44")
    second, graph = await fetch(
        ["page_no_posts.json", "posts_backfill_last.json", "reels_p2_last.json"],
        since=later,
        checkpoint=both,
        page_limit=5,
    )
    assert [r.url.path for r in graph.seen[1:]] == [
        f"/v26.0/{PAGE}/posts",
        f"/v26.0/{PAGE}/video_reels",
    ]
    assert graph.seen[1].url.params["until"] == posts_gap["resume"]
    assert graph.seen[2].url.params["after"] == "QVFIUnJlZAWxzMw"
    assert second.checkpoint.extra == {}


# -- appsecret_proof -------------------------------------------------------------------------


async def test_every_request_carries_the_appsecret_proof_once() -> None:
    _, graph = await fetch(["page_with_reels.json", "reels_p2_last.json"], app_secret=APP_SECRET)
    for request in graph.seen:
        assert request.url.params.get_list("appsecret_proof") == [PROOF], request.url
    assert "0123456789abcdef" not in str(graph.seen[1].url)  # the proof the link carried


async def test_no_proof_without_an_app_secret() -> None:
    _, graph = await fetch(["page_no_posts.json"])
    assert "appsecret_proof" not in graph.seen[0].url.params


async def test_the_app_secret_and_proof_never_appear_in_errors() -> None:
    echoed = f"bad appsecret_proof={PROOF} for {APP_SECRET} with access_token {TOKEN}"

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": echoed, "code": 100}})

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    options = PlatformOptions(base_url=BASE, access_token=TOKEN, app_secret=APP_SECRET)
    with pytest.raises(ConnectorError) as caught:
        await FacebookConnector(client, options).fetch(
            ChannelRef(PAGE), since=None, checkpoint=Checkpoint()
        )
    text = str(caught.value) + repr(vars(caught.value))
    for secret in (APP_SECRET, PROOF, TOKEN):
        assert secret not in text
    assert APP_SECRET not in repr(options)


async def test_an_app_token_hides_its_secret_half_too() -> None:
    app_token = f"1234567890123456|{APP_SECRET}"

    def answer(request: httpx.Request) -> httpx.Response:
        body = {"error": {"message": f"secret {APP_SECRET} rejected", "code": 190}}
        return httpx.Response(400, json=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    fb = FacebookConnector(client, PlatformOptions(base_url=BASE, access_token=app_token))
    with pytest.raises(ConnectorError) as caught:
        await fb.fetch(ChannelRef(PAGE), since=None, checkpoint=Checkpoint())
    assert caught.value.kind == "auth"
    assert APP_SECRET not in str(caught.value)


def test_public_url() -> None:
    fb = connector(Graph([]))
    assert (
        fb.public_url(ChannelRef("gemeentevoorbeeld"))
        == "https://www.facebook.com/gemeentevoorbeeld"
    )
    assert (
        fb.public_url(ChannelRef("110658944785122")) == "https://www.facebook.com/110658944785122"
    )


# -- usage headers ---------------------------------------------------------------------------

APP_USAGE = {"x-app-usage": '{"call_count":47,"total_cputime":0,"total_time":19}'}
BUC_USAGE = {
    "x-business-use-case-usage": json.dumps(
        {
            "112130216863063": [
                {
                    "type": "pages",
                    "call_count": 1,
                    "total_cputime": 62,
                    "total_time": 3,
                    "estimated_time_to_regain_access": 0,
                    "ads_api_access_tier": "development_access",
                }
            ]
        }
    )
}


@pytest.mark.parametrize(
    ("headers", "ratio"),
    [
        (APP_USAGE, 0.47),
        ({"x-page-usage": '{"call_count":5,"total_cputime":8,"total_time":2}'}, 0.08),
        (BUC_USAGE, 0.62),
        ({**APP_USAGE, **BUC_USAGE}, 0.62),
        ({"x-app-usage": '{"call_count":130,"total_cputime":0,"total_time":0}'}, 1.0),
        ({}, None),
        ({"x-app-usage": "not json"}, None),
    ],
)
async def test_usage_headers_give_the_quota_ratio(
    headers: dict[str, str], ratio: float | None
) -> None:
    result, _ = await fetch([("page_no_posts.json", 200, headers)])
    assert result.quota_used_ratio == (pytest.approx(ratio) if ratio is not None else None)


async def test_the_highest_usage_of_the_poll_is_reported() -> None:
    low = {"x-app-usage": '{"call_count":10,"total_cputime":0,"total_time":1}'}
    result, _ = await fetch(
        [
            ("page_p1_cursor.json", 200, APP_USAGE),
            ("posts_p2_empty_with_next.json", 200, low),
            ("posts_p3_last.json", 200, {}),
        ]
    )
    assert result.quota_used_ratio == pytest.approx(0.47)


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "status", "kind"),
    [
        ("error_190_463.json", 400, "auth"),
        ("error_190_invalid.json", 400, "auth"),
        ("error_190_malformed_token.json", 400, "auth"),
        ("error_100_ppca.json", 400, "auth"),
        ("error_100_appsecret.json", 400, "auth"),
        ("error_100_appsecret_required.json", 400, "auth"),
        ("error_100_appsecret_invalid.json", 400, "auth"),
        ("error_10.json", 400, "auth"),
        ("error_10.json", 403, "auth"),
        ("error_200.json", 400, "auth"),
        ("error_4.json", 400, "rate_limited"),
        ("error_17.json", 400, "rate_limited"),
        ("error_32.json", 400, "rate_limited"),
        ("error_613.json", 400, "rate_limited"),
        ("error_80001.json", 400, "rate_limited"),
        ("error_80014.json", 400, "rate_limited"),
        ("error_368.json", 400, "rate_limited"),
        ("error_803.json", 400, "not_found"),
        ("error_803.json", 404, "not_found"),
        ("error_100_does_not_exist.json", 400, "not_found"),
        ("error_1.json", 400, "transient"),
        ("error_2.json", 500, "transient"),
        ("error_html.html", 500, "transient"),
        ("error_html.html", 502, "transient"),
        ("error_html.html", 200, "malformed"),
        ("error_html.html", 400, "malformed"),
    ],
)
async def test_graph_errors_map_by_code_first(payload: str, status: int, kind: str) -> None:
    error = await failure([(payload, status, {})])
    assert error.kind == kind
    assert error.status == status


async def test_an_unreadable_object_says_it_may_be_missing_or_forbidden() -> None:
    error = await failure([("error_100_does_not_exist.json", 400, {})])
    assert error.kind == "not_found"  # the token works; this one object is the trouble
    text = str(error)
    assert "#100/33" in text
    assert "does not exist, or this token may not read it" in text
    assert "check the id" in text
    assert "Page Public Content Access" in text


@pytest.mark.parametrize(
    ("payload", "scope"),
    [
        ("error_4.json", "app"),
        ("error_17.json", "token"),
        ("error_613.json", "token"),
        ("error_368.json", "token"),
        ("error_32.json", "object"),
        ("error_80001.json", "object"),
    ],
)
async def test_throttles_say_what_they_hold_back(payload: str, scope: str) -> None:
    error = await failure([(payload, 400, {})])
    assert isinstance(error, RateLimited)
    assert error.scope == scope
    assert error.retry_after is None  # nothing said how long: the daemon backs off


def buc(**entries: tuple[int, int]) -> dict[str, str]:
    """An x-business-use-case-usage header: object id → (call_count %, regain minutes)."""
    value = {
        object_id.removeprefix("id"): [
            {
                "type": "pages",
                "call_count": percent,
                "total_cputime": 1,
                "total_time": 1,
                "estimated_time_to_regain_access": minutes,
            }
        ]
        for object_id, (percent, minutes) in entries.items()
    }
    return {"x-business-use-case-usage": json.dumps(value)}


async def test_a_page_throttle_names_the_page_and_its_own_wait() -> None:
    headers = buc(id110658944785122=(100, 7), id999000111=(100, 30))
    graph = Graph([("error_80001.json", 400, headers)])
    with pytest.raises(RateLimited) as caught:
        await connector(graph).fetch(
            ChannelRef("110658944785122"), since=None, checkpoint=Checkpoint()
        )
    assert caught.value.scope == "object"
    assert caught.value.scope_id == "110658944785122"
    assert caught.value.retry_after == 420.0  # its own 7 minutes, not another object's 30


async def test_a_page_throttle_read_by_username_names_the_blocked_object() -> None:
    error = await failure([("error_32.json", 400, buc(id110658944785122=(100, 12)))])
    assert isinstance(error, RateLimited)
    assert (error.scope, error.scope_id, error.retry_after) == ("object", "110658944785122", 720.0)


async def test_quota_is_the_polled_pages_not_every_object_in_the_header() -> None:
    headers = buc(id110658944785122=(5, 0), id999000111=(95, 0))
    result, _ = await fetch([("page_no_posts.json", 200, headers)])
    assert result.quota_used_ratio == pytest.approx(0.05)


async def test_errors_name_the_code_but_not_the_token_or_query() -> None:
    error = await failure([("error_190_malformed_token.json", 400, {})])
    assert "#190" in str(error)
    assert "?" not in str(error)
    assert "graph.facebook.com/v26.0/gemeentevoorbeeld" in str(error)


async def test_retry_after_comes_from_estimated_time_to_regain_access_in_minutes() -> None:
    usage = json.dumps(
        {
            "110658944785122": [
                {
                    "type": "pages",
                    "call_count": 100,
                    "total_cputime": 12,
                    "total_time": 40,
                    "estimated_time_to_regain_access": 7,
                }
            ]
        }
    )
    error = await failure([("error_80001.json", 400, {"x-business-use-case-usage": usage})])
    assert isinstance(error, RateLimited)
    assert error.retry_after == 420.0
    assert (error.scope, error.scope_id) == ("object", "110658944785122")
    assert getattr(error, "quota_used_ratio", None) == 1.0


async def test_throttling_without_usage_headers_has_no_retry_after() -> None:
    error = await failure([("error_4.json", 400, {})])
    assert isinstance(error, RateLimited)
    assert error.retry_after is None
    assert getattr(error, "quota_used_ratio", "absent") is None


async def test_a_failure_on_a_later_page_still_carries_the_poll_quota() -> None:
    error = await failure([("page_p1_cursor.json", 200, APP_USAGE), ("error_2.json", 500, {})])
    assert error.kind == "transient"
    assert getattr(error, "quota_used_ratio", None) == pytest.approx(0.47)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'"just a string"', b'{"id": 5, "posts": {"data": [{"id": "1"}]}}'],
)
async def test_unreadable_payloads_are_malformed(body: bytes) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    fb = FacebookConnector(client, PlatformOptions(base_url=BASE, access_token=TOKEN))
    with pytest.raises(ConnectorError) as caught:
        await fb.fetch(ChannelRef(PAGE), since=None, checkpoint=Checkpoint())
    assert caught.value.kind == "malformed"
    assert TOKEN not in str(caught.value)
