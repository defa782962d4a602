"""The fake feed server, read over loopback by the real connectors."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from connectors.base import ChannelRef, Checkpoint, FetchResult, PlatformOptions
from connectors.errors import AuthFailed, ChannelNotFound, Malformed, RateLimited, Transient
from connectors.rss import RssConnector
from connectors.youtube import YouTubeConnector
from monitor.fakes.feeds import FeedServer, FeedSpec, Hit

NOW = datetime.now(UTC).replace(microsecond=0)
CHANNEL_ID = "UCabcdefghijklmnopqrstuv"


def every(days: float, count: int, newest_days_ago: float = 1) -> list[datetime]:
    return [NOW - timedelta(days=newest_days_ago + i * days) for i in range(count)]


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    feeds = FeedServer(
        {
            "/nieuws/rss": FeedSpec(posts=every(3, 20)),
            "/blog/atom": FeedSpec(posts=every(7, 4), format="atom"),
            CHANNEL_ID: FeedSpec(posts=every(2, 20), format="youtube"),
        }
    )
    await feeds.start()
    yield feeds
    await feeds.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


async def read(
    client: httpx.AsyncClient, url: str, checkpoint: Checkpoint | None = None
) -> FetchResult:
    connector = RssConnector(client, PlatformOptions())
    return await connector.fetch(ChannelRef(url), since=None, checkpoint=checkpoint or Checkpoint())


async def test_start_returns_a_loopback_base_url(server: FeedServer) -> None:
    assert server.base_url is not None
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.base_url)


async def test_rss_posts_arrive_with_their_dates(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    result = await read(client, f"{server.base_url}/nieuws/rss")
    assert sorted(p.published_at for p in result.posts if p.published_at) == sorted(every(3, 20))
    assert len({p.post_id for p in result.posts}) == 20
    assert result.profile is not None
    assert result.profile.name == "Nieuws - Gemeente Voorbeeld"


async def test_rss_dates_use_named_and_numeric_zones(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    body = (await client.get(f"{server.base_url}/nieuws/rss")).text
    dates = re.findall(r"<pubDate>(.*?)</pubDate>", body)
    assert any(d.endswith(" GMT") for d in dates)
    assert any(re.search(r" [+-]\d{4}$", d) for d in dates)


async def test_second_fetch_is_304_without_downloading_again(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    url = f"{server.base_url}/nieuws/rss"
    first = await read(client, url)
    assert first.checkpoint.etag
    assert first.checkpoint.last_modified
    second = await read(client, url, first.checkpoint)
    assert second.not_modified is True
    assert second.posts == ()
    assert second.checkpoint == first.checkpoint
    assert [(h.status, h.conditional) for h in server.hits] == [(200, False), (304, True)]


async def test_if_modified_since_alone_gets_304(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    url = f"{server.base_url}/nieuws/rss"
    first = await read(client, url)
    second = await read(client, url, Checkpoint(last_modified=first.checkpoint.last_modified))
    assert second.not_modified is True


async def test_a_changed_feed_is_downloaded_again(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    url = f"{server.base_url}/nieuws/rss"
    first = await read(client, url)
    server.set("/nieuws/rss", FeedSpec(posts=[NOW, *every(3, 20)]))
    second = await read(client, url, first.checkpoint)
    assert second.not_modified is False
    assert len(second.posts) == 21
    assert {p.post_id for p in first.posts} < {p.post_id for p in second.posts}, "ids are stable"
    assert second.checkpoint.etag != first.checkpoint.etag
    assert second.checkpoint.last_modified != first.checkpoint.last_modified


async def test_without_validators_every_fetch_is_a_full_download(
    client: httpx.AsyncClient,
) -> None:
    server = FeedServer({"/rss": FeedSpec(posts=every(3, 5), validators=False)})
    base = await server.start()
    try:
        first = await read(client, f"{base}/rss")
        assert first.checkpoint == Checkpoint()
        second = await read(client, f"{base}/rss", Checkpoint(etag='"stale"'))
        assert len(second.posts) == 5
        assert [h.status for h in server.hits] == [200, 200]
    finally:
        await server.stop()


async def test_youtube_feed_over_loopback(server: FeedServer, client: httpx.AsyncClient) -> None:
    connector = YouTubeConnector(client, PlatformOptions(base_url=server.base_url))
    result = await connector.fetch(ChannelRef(CHANNEL_ID), since=None, checkpoint=Checkpoint())
    assert len(result.posts) == 15  # only the latest uploads
    assert [p.published_at for p in result.posts] == every(2, 15)
    assert all(re.fullmatch(r"[\w-]{11}", p.post_id) for p in result.posts)
    assert server.hits == [Hit(CHANNEL_ID, 200, False, gzip=True)]


async def test_youtube_feed_has_the_real_quirks(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    response = await client.get(
        f"{server.base_url}/feeds/videos.xml", params={"channel_id": CHANNEL_ID}
    )
    head, _, _ = response.text.partition("<entry>")
    bare = CHANNEL_ID.removeprefix("UC")
    assert f"<yt:channelId>{bare}</yt:channelId>" in head
    assert f"<id>yt:channel:{bare}</id>" in head
    assert 'rel="self" href="http://www.youtube.com/' in head
    assert "<updated>" not in head
    published = re.findall(r"<published>(.*?)</published>", response.text)[1:]  # [0] is the feed's
    updated = re.findall(r"<updated>(.*?)</updated>", response.text)
    assert len(published) == len(updated) == 15
    assert all(p.endswith("+00:00") for p in published)
    assert all(u > p for p, u in zip(published, updated, strict=True))


async def test_atom_dates_have_numeric_offsets(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    body = (await client.get(f"{server.base_url}/blog/atom")).text
    assert re.findall(r"<published>(.*?)</published>", body)
    assert all(d.endswith("+00:00") for d in re.findall(r"<published>(.*?)</published>", body))
    result = await read(client, f"{server.base_url}/blog/atom")
    assert [p.published_at for p in result.posts] == every(7, 4)


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (FeedSpec(posts=[], status=404), ChannelNotFound),
        (FeedSpec(posts=[], status=401), AuthFailed),
        (FeedSpec(posts=[], status=500), Transient),
        (FeedSpec(posts=every(3, 5), malformed=True), Malformed),
    ],
)
async def test_failing_feeds(
    client: httpx.AsyncClient, spec: FeedSpec, error: type[Exception]
) -> None:
    server = FeedServer({"/rss": spec})
    base = await server.start()
    try:
        with pytest.raises(error):
            await read(client, f"{base}/rss")
    finally:
        await server.stop()


async def test_429_says_when_to_come_back(client: httpx.AsyncClient) -> None:
    server = FeedServer({"/rss": FeedSpec(posts=[], status=429, retry_after=90)})
    base = await server.start()
    try:
        with pytest.raises(RateLimited) as caught:
            await read(client, f"{base}/rss")
        assert caught.value.retry_after == 90
    finally:
        await server.stop()


async def test_unknown_feeds_and_channels_are_404(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    with pytest.raises(ChannelNotFound):
        await read(client, f"{server.base_url}/bestaat-niet/rss")
    connector = YouTubeConnector(client, PlatformOptions(base_url=server.base_url))
    with pytest.raises(ChannelNotFound):
        await connector.fetch(
            ChannelRef("UCzzzzzzzzzzzzzzzzzzzzzz"), since=None, checkpoint=Checkpoint()
        )
    assert [h.status for h in server.hits] == [404, 404]


async def test_html_content_type_and_undated_entries(client: httpx.AsyncClient) -> None:
    spec = FeedSpec(posts=every(3, 4), undated=2, content_type="text/html; charset=utf-8")
    server = FeedServer({"/rss": spec})
    base = await server.start()
    try:
        result = await read(client, f"{base}/rss")
    finally:
        await server.stop()
    assert len(result.posts) == 6
    assert sum(p.published_at is None for p in result.posts) == 2


async def test_gzip_only_when_the_client_accepts_it(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    url = f"{server.base_url}/nieuws/rss"
    zipped = await client.get(url)
    plain = await client.get(url, headers={"Accept-Encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert zipped.content == plain.content
    assert [h.gzip for h in server.hits] == [True, False]
    assert len((await read(client, url)).posts) == 20  # and the connector reads it


# -- flaky feeds and redirects ----------------------------------------------------------------


async def test_a_flaky_feed_answers_its_statuses_in_turn(client: httpx.AsyncClient) -> None:
    spec = FeedSpec(posts=every(2, 5), format="youtube", flaky=(200, 404, 500))
    server = FeedServer({CHANNEL_ID: spec})
    base = await server.start()
    try:
        url = f"{base}/feeds/videos.xml?channel_id={CHANNEL_ID}"
        answers = [(await client.get(url)) for _ in range(4)]
    finally:
        await server.stop()
    assert [r.status_code for r in answers] == [200, 404, 500, 200]
    assert "<title>404 Not Found</title>" in answers[1].text  # an HTML error page, like Google's
    assert [h.status for h in server.hits] == [200, 404, 500, 200]


async def test_a_flaky_404_reaches_the_connector_marked_flaky(client: httpx.AsyncClient) -> None:
    server = FeedServer({CHANNEL_ID: FeedSpec(posts=every(2, 5), format="youtube", flaky=(404,))})
    base = await server.start()
    try:
        connector = YouTubeConnector(client, PlatformOptions(base_url=base))
        with pytest.raises(ChannelNotFound) as caught:
            await connector.fetch(ChannelRef(CHANNEL_ID), since=None, checkpoint=Checkpoint())
    finally:
        await server.stop()
    assert caught.value.flaky is True


def test_the_fake_refuses_a_redirect_without_location_or_a_flaky_status_it_never_sees() -> None:
    with pytest.raises(ValueError, match="redirect"):
        FeedSpec(posts=[], status=301)
    with pytest.raises(ValueError, match="redirect"):
        FeedSpec(posts=[], redirect="/elders")
    with pytest.raises(ValueError, match="flaky"):
        FeedSpec(posts=[], flaky=(200, 403))


@pytest.fixture
async def following() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10, follow_redirects=True) as http:
        yield http


async def test_a_moved_feed_costs_one_request_after_the_first_poll(
    following: httpx.AsyncClient,
) -> None:
    server = FeedServer(
        {
            "/oud/rss": FeedSpec(posts=[], status=301, redirect="/nieuw/rss"),
            "/nieuw/rss": FeedSpec(posts=every(3, 5)),
        }
    )
    base = await server.start()
    try:
        response = await following.get(f"{base}/oud/rss")
        assert response.history[0].headers["location"] == f"{base}/nieuw/rss"  # made absolute
        server.hits.clear()
        first = await read(following, f"{base}/oud/rss")
        second = await read(following, f"{base}/oud/rss", first.checkpoint)
        third = await read(following, f"{base}/oud/rss", second.checkpoint)
    finally:
        await server.stop()
    assert len(first.posts) == 5
    assert second.not_modified and third.not_modified
    assert [(h.key, h.status) for h in server.hits] == [
        ("/oud/rss", 301),
        ("/nieuw/rss", 200),
        ("/nieuw/rss", 304),
        ("/nieuw/rss", 304),
    ]


async def test_a_temporarily_redirected_feed_is_asked_at_its_address_each_time(
    following: httpx.AsyncClient,
) -> None:
    server = FeedServer(
        {
            "/rss": FeedSpec(posts=[], status=307, redirect="/onderhoud/rss"),
            "/onderhoud/rss": FeedSpec(posts=every(3, 5)),
        }
    )
    base = await server.start()
    try:
        first = await read(following, f"{base}/rss")
        await read(following, f"{base}/rss", first.checkpoint)
    finally:
        await server.stop()
    assert [h.key for h in server.hits] == ["/rss", "/onderhoud/rss"] * 2


# -- command line ---------------------------------------------------------------------------


async def test_cli_serves_a_json_spec_until_sigterm(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    spec = tmp_path / "feeds.json"
    spec.write_text(
        json.dumps(
            {
                "/nieuws/rss": {"posts": {"every_days": 3, "count": 20, "newest_days_ago": 1}},
                "/oud/rss": {"posts": ["2025-01-02T10:00:00Z", "2024-12-01T09:30:00+01:00"]},
                CHANNEL_ID: {"format": "youtube", "posts": {"every_days": 1, "count": 3}},
            }
        )
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.fakes.feeds", "--port", "0", "--spec", str(spec),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        base = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
        assert len((await read(client, f"{base}/nieuws/rss")).posts) == 20
        old = await read(client, f"{base}/oud/rss")
        assert sorted(p.published_at for p in old.posts if p.published_at) == [
            datetime(2024, 12, 1, 8, 30, tzinfo=UTC),
            datetime(2025, 1, 2, 10, tzinfo=UTC),
        ]
        youtube = YouTubeConnector(client, PlatformOptions(base_url=base))
        videos = await youtube.fetch(ChannelRef(CHANNEL_ID), since=None, checkpoint=Checkpoint())
        assert len(videos.posts) == 3
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0


async def test_cli_rejects_a_bad_spec_with_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "feeds.json"
    spec.write_text(json.dumps({"/rss": {"posts": [], "formaat": "rss"}}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.fakes.feeds", "--spec", str(spec),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"formaat" in err
    assert b"Traceback" not in err
    assert out == b""
