"""InstagramConnector over httpx.MockTransport: own account, Business Discovery, the probe."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from connectors.base import ChannelRef, Checkpoint, FetchResult, PlatformOptions
from connectors.errors import ConnectorError, RateLimited
from connectors.instagram import InstagramConnector

FIXTURES = Path(__file__).parent / "fixtures" / "instagram"
TOKEN = "SECRET-TOKEN-123"
BASE = "https://graph.facebook.com"
OWN_ID = "17841405309211844"  # the account running Business Discovery
OTHER = "bluebottle"

Reply = tuple[str, int, dict[str, str]]


class Graph:
    """Answers requests with fixtures in order and keeps every request it saw."""

    def __init__(self, replies: Sequence[Reply | str]) -> None:
        self.replies = [(r, 200, {}) if isinstance(r, str) else r for r in replies]
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        assert self.replies, f"unexpected request {request.url.path}"
        name, status, headers = self.replies.pop(0)
        return httpx.Response(status, content=(FIXTURES / name).read_bytes(), headers=headers)


def connector(graph: Graph, **options: object) -> InstagramConnector:
    client = httpx.AsyncClient(transport=httpx.MockTransport(graph))
    settings = {"base_url": BASE, "access_token": TOKEN, "account_id": OWN_ID, **options}
    return InstagramConnector(client, PlatformOptions(**settings))  # type: ignore[arg-type]


async def fetch(
    replies: Sequence[Reply | str],
    handle: str = OTHER,
    *,
    since: datetime | None = None,
    checkpoint: Checkpoint | None = None,
    **options: object,
) -> tuple[FetchResult, Graph]:
    graph = Graph(replies)
    result = await connector(graph, **options).fetch(
        ChannelRef(handle), since=since, checkpoint=checkpoint or Checkpoint()
    )
    assert not graph.replies, "not every prepared response was requested"
    for request in graph.seen:
        assert request.url.params.get_list("access_token") == [TOKEN]
        assert str(request.url).count(TOKEN) == 1
    assert TOKEN not in repr(result)
    return result, graph


def fields(request: httpx.Request) -> str:
    return request.url.params.get("fields") or ""


def unix(text: str) -> str:
    return str(int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()))


# -- own account -----------------------------------------------------------------------------


async def test_own_account_reads_profile_and_media_with_next_links() -> None:
    result, graph = await fetch(["own_p1.json", "own_media_p2.json"], handle=OWN_ID)
    first, second = graph.seen
    assert first.url.path == f"/v26.0/{OWN_ID}"
    assert fields(first) == (
        "username,name,followers_count,media_count,"
        "media.limit(50){id,timestamp,media_type,permalink}"
    )
    assert second.url.path == "/v26.0/17841407673135339/media"
    assert second.url.params["after"] == "QVFIUmRz"
    assert [p.post_id for p in result.posts] == [
        "17895731045244887",
        "17896622936197745",
        "17902156564125690",
    ]
    assert result.posts[0].published_at == datetime(2026, 11, 13, 8, 25, 28, tzinfo=UTC)
    assert {p.kind for p in result.posts} == {"post"}
    assert result.profile is not None
    assert result.profile.name == "Gemeente Voorbeeld"
    assert result.profile.url == "https://www.instagram.com/gemeentevoorbeeld/"
    assert result.profile.followers == 64363
    assert result.checkpoint.extra == {
        "media_count": "427",
        "newest_id": "17895731045244887",
        "newest_at": unix("2026-11-13T08:25:28"),
    }


async def test_own_account_page_limit_resumes_from_the_after_cursor() -> None:
    first, _ = await fetch(["own_p1.json"], handle=OWN_ID, page_limit=1)
    assert first.checkpoint.extra["resume"] == "QVFIUmRz"
    since = max(p.published_at for p in first.posts if p.published_at)
    second, graph = await fetch(
        ["own_p1.json", "own_media_p2.json"],
        handle=OWN_ID,
        since=since,
        checkpoint=first.checkpoint,
        page_limit=2,
    )
    resume = graph.seen[1]
    assert resume.url.path == f"/v26.0/{OWN_ID}/media"
    assert resume.url.params["after"] == "QVFIUmRz"
    assert [p.post_id for p in second.posts][-1] == "17902156564125690"
    assert "resume" not in second.checkpoint.extra


# -- business discovery ----------------------------------------------------------------------


async def test_business_discovery_pages_through_nested_cursors() -> None:
    result, graph = await fetch(
        ["discovery_p1.json", "discovery_p2.json", "discovery_p3_last.json"]
    )
    first, second, third = graph.seen
    assert {r.url.path for r in graph.seen} == {f"/v26.0/{OWN_ID}"}
    assert fields(first) == (
        "business_discovery.username(bluebottle){username,name,followers_count,media_count,"
        "media.limit(50){id,timestamp,media_type}}"
    )
    assert fields(second) == (
        "business_discovery.username(bluebottle)"
        "{media.after(QVFIUjRfZAkZA3).limit(50){id,timestamp,media_type}}"
    )
    assert "media.after(QVFIUlpLbW5)" in fields(third)
    assert len(result.posts) == 5
    assert result.profile is not None
    assert result.profile.followers == 267793
    assert result.profile.url == "https://www.instagram.com/bluebottle/"
    assert result.checkpoint.extra["media_count"] == "1205"


async def test_business_discovery_stops_at_since() -> None:
    result, graph = await fetch(["discovery_p1.json"], since=datetime(2026, 11, 16, 20, tzinfo=UTC))
    assert len(graph.seen) == 1
    assert [p.post_id for p in result.posts] == ["17885103395504675"]


async def test_business_discovery_page_limit_keeps_the_cursor() -> None:
    result, _ = await fetch(["discovery_p1.json", "discovery_p2.json"], page_limit=2)
    assert result.checkpoint.extra["resume"] == "QVFIUlpLbW5"
    assert "resume_since" not in result.checkpoint.extra


async def test_an_empty_nested_page_with_an_after_cursor_is_not_the_end() -> None:
    result, graph = await fetch(
        [
            "discovery_p1.json",
            "discovery_p2_empty.json",
            "discovery_p2.json",
            "discovery_p3_last.json",
        ]
    )
    assert "media.after(QVFIUjRfZAkZA4)" in fields(graph.seen[2])
    assert len(result.posts) == 5
    assert result.checkpoint.extra.get("resume") is None


async def test_an_at_sign_before_the_username_is_ignored() -> None:
    _, graph = await fetch(
        ["discovery_p1.json", "discovery_p2.json", "discovery_p3_last.json"], "@bluebottle"
    )
    assert "username(bluebottle)" in fields(graph.seen[0])


# -- the media_count probe -------------------------------------------------------------------

KNOWN = Checkpoint(
    extra={
        "media_count": "1205",
        "newest_id": "17885103395504675",
        "newest_at": unix("2026-11-17T19:00:42"),
    }
)
NEWEST = datetime(2026, 11, 17, 19, 0, 42, tzinfo=UTC)


async def test_unchanged_media_count_costs_one_small_request() -> None:
    result, graph = await fetch(["discovery_probe.json"], since=NEWEST, checkpoint=KNOWN)
    assert len(graph.seen) == 1
    assert "media.limit(1){" in fields(graph.seen[0])
    assert result.not_modified
    assert result.posts == ()
    assert result.checkpoint == KNOWN
    assert result.profile is not None
    assert result.profile.followers == 267793


async def test_a_changed_media_count_reads_the_media() -> None:
    changed = Checkpoint(extra={**KNOWN.extra, "media_count": "1204"})
    result, graph = await fetch(
        ["discovery_probe.json", "discovery_p1.json"], since=NEWEST, checkpoint=changed
    )
    assert len(graph.seen) == 2
    assert "media.limit(50){" in fields(graph.seen[1])
    assert not result.not_modified
    assert result.checkpoint.extra["media_count"] == "1205"


async def test_a_changed_newest_post_reads_the_media_even_with_the_same_count() -> None:
    replaced = Checkpoint(extra={**KNOWN.extra, "newest_id": "17000000000000000"})
    _, graph = await fetch(
        ["discovery_probe.json", "discovery_p1.json"], since=NEWEST, checkpoint=replaced
    )
    assert len(graph.seen) == 2


async def test_no_probe_when_the_daemon_lacks_the_newest_post() -> None:
    older = datetime(2026, 11, 16, 20, tzinfo=UTC)
    result, graph = await fetch(["discovery_p1.json"], since=older, checkpoint=KNOWN)
    assert len(graph.seen) == 1
    assert "media.limit(50){" in fields(graph.seen[0])
    assert [p.post_id for p in result.posts] == ["17885103395504675"]


async def test_own_account_probe_too() -> None:
    known = Checkpoint(
        extra={
            "media_count": "427",
            "newest_id": "17895731045244887",
            "newest_at": unix("2026-11-13T08:25:28"),
        }
    )
    since = datetime(2026, 11, 13, 8, 25, 28, tzinfo=UTC)
    result, graph = await fetch(["own_p1.json"], handle=OWN_ID, since=since, checkpoint=known)
    assert len(graph.seen) == 1
    assert "media.limit(1){" in fields(graph.seen[0])
    assert result.not_modified


# -- errors ----------------------------------------------------------------------------------


async def failure(
    replies: Sequence[Reply | str], handle: str = OTHER, **options: object
) -> ConnectorError:
    graph = Graph(replies)
    with pytest.raises(ConnectorError) as caught:
        await connector(graph, **options).fetch(
            ChannelRef(handle), since=None, checkpoint=Checkpoint()
        )
    assert TOKEN not in str(caught.value)
    return caught.value


async def test_unknown_or_personal_accounts_are_not_found() -> None:
    error = await failure([("error_110_2207013.json", 400, {})])
    assert error.kind == "not_found"


async def test_expired_token_is_auth() -> None:
    error = await failure([("error_190_463.json", 400, {})], handle=OWN_ID)
    assert error.kind == "auth"


async def test_buc_throttling_gives_retry_after() -> None:
    usage = json.dumps(
        {
            OWN_ID: [
                {
                    "type": "instagram",
                    "call_count": 100,
                    "total_cputime": 1,
                    "total_time": 1,
                    "estimated_time_to_regain_access": 12,
                }
            ]
        }
    )
    error = await failure([("error_80002.json", 400, {"x-business-use-case-usage": usage})])
    assert isinstance(error, RateLimited)
    assert error.retry_after == 720.0
    assert getattr(error, "quota_used_ratio", None) == 1.0
    # every request runs as the account that asks: its limit holds back every channel
    assert (error.scope, error.scope_id) == ("token", None)


async def test_quota_ratio_is_the_asking_accounts_not_its_pages() -> None:
    # the recorded shape: the IG account and its linked Page, each with its own entry
    usage = (
        f'{{"{OWN_ID}":[{{"type":"instagram","call_count":1,"total_cputime":1,'
        '"total_time":1,"estimated_time_to_regain_access":0}],"110658944785122":[{"type":"pages",'
        '"call_count":9,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":0}]}'
    )
    result, _ = await fetch(
        [("discovery_probe.json", 200, {"x-business-use-case-usage": usage})],
        since=NEWEST,
        checkpoint=KNOWN,
    )
    assert result.quota_used_ratio == pytest.approx(0.01)


async def test_without_account_id_nothing_can_be_read() -> None:
    error = await failure([], account_id=None)
    assert error.kind == "auth"


async def test_invalid_usernames_are_refused_without_a_request() -> None:
    error = await failure([], handle="https://instagram.com/x?y")
    assert error.kind == "not_found"


def test_public_url() -> None:
    ig = connector(Graph([]))
    assert ig.public_url(ChannelRef("bluebottle")) == "https://www.instagram.com/bluebottle/"
    assert ig.public_url(ChannelRef(OWN_ID)) is None  # no username without asking Graph
