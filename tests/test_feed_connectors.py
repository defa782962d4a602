"""The RSS/Atom and YouTube connectors over recorded-shape payloads, through httpx.MockTransport."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from connectors.base import (
    MOVED_TO,
    ChannelRef,
    Checkpoint,
    FetchResult,
    PlatformOptions,
    Post,
    Profile,
)
from connectors.errors import ChannelNotFound, Malformed
from connectors.rss import RssConnector
from connectors.youtube import YouTubeConnector

FIXTURES = Path(__file__).parent / "fixtures"
FEED_URL = "https://www.voorbeeld.nl/nieuws/rss"
CHANNEL_ID = "UCq8Xb4yPGBNVhbE0p1n7bWQ"
NEWS = "https://www.voorbeeld.nl/nieuws/"
RSS_TYPE = "application/rss+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
Handler = Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class Feed:
    """A MockTransport handler serving one body, remembering every request."""

    def __init__(self, body: bytes, *, status: int = 200, headers: dict[str, str] | None = None):
        self.body = body
        self.status = status
        self.headers = {"content-type": RSS_TYPE, **(headers or {})}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, content=self.body, headers=self.headers)


async def rss(
    handler: Handler,
    checkpoint: Checkpoint | None = None,
    url: str = FEED_URL,
    *,
    follow_redirects: bool = False,
) -> FetchResult:
    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(transport=transport, follow_redirects=follow_redirects) as client:
        connector = RssConnector(client, PlatformOptions())
        return await connector.fetch(
            ChannelRef(url), since=None, checkpoint=checkpoint or Checkpoint()
        )


async def youtube(handler: Handler, base_url: str | None = None) -> FetchResult:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        connector = YouTubeConnector(client, PlatformOptions(base_url=base_url))
        return await connector.fetch(ChannelRef(CHANNEL_ID), since=None, checkpoint=Checkpoint())


def at(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


# -- RSS and Atom -------------------------------------------------------------------------------


async def test_rss_posts_ids_dates_and_profile() -> None:
    result = await rss(Feed(fixture("rss/gemeente_nieuws.xml")))
    assert result.posts == (
        Post("18342 at https://www.voorbeeld.nl", at(2026, 11, 25, 13, 30)),  # +0100
        Post("18337 at https://www.voorbeeld.nl", at(2026, 11, 11, 22, 5)),  # GMT
        Post(NEWS + "nieuwe-openingstijden-van-het-gemeentehuis", at(2026, 10, 23, 7)),  # no guid
        Post(NEWS + "subsidie-voor-verduurzaming-van-woningen-weer-open", at(2026, 10, 6, 8, 15)),
    )
    assert all(p.published_at and p.published_at.tzinfo is UTC for p in result.posts)
    assert {p.kind for p in result.posts} == {"post"}
    assert result.profile == Profile(
        name="Nieuws | Gemeente Voorbeeld", url="https://www.voorbeeld.nl/nieuws", followers=None
    )
    assert result.not_modified is False


async def test_named_and_numeric_zones_are_normalised_to_utc() -> None:
    result = await rss(Feed(fixture("rss/named_zones.xml")))
    assert [p.published_at for p in result.posts] == [
        at(2026, 11, 20, 10),  # GMT
        at(2026, 11, 19, 10),  # UT
        at(2026, 11, 18, 15),  # EST
        at(2026, 10, 12, 14),  # EDT
        at(2026, 10, 9, 8),  # +0200
        at(2026, 10, 1, 10),  # two-digit year
        at(2026, 9, 30, 8),  # CEST, which feedparser alone reads as UTC
        at(2026, 3, 2, 9),  # CET
    ]


async def test_atom_uses_published_and_falls_back_to_updated() -> None:
    result = await rss(
        Feed(fixture("rss/atom_blog.xml"), headers={"content-type": "application/atom+xml"})
    )
    assert result.posts == (
        Post("tag:voorbeeld.nl,2024:blog/412", at(2026, 11, 21, 16)),  # <published>, not <updated>
        Post("tag:voorbeeld.nl,2024:blog/409", at(2026, 11, 7, 12, 45, 30)),  # only <updated>
    )
    assert result.profile == Profile(
        name="Blog van de burgemeester", url="https://www.voorbeeld.nl/blog"
    )


async def test_an_empty_but_valid_feed_is_a_success_without_posts() -> None:
    result = await rss(Feed(fixture("rss/empty_channel.xml")))
    assert result.posts == ()
    assert result.profile is not None
    assert result.profile.name == "Vacatures | Gemeente Voorbeeld"


async def test_undated_entries_are_kept_without_a_date_and_a_stable_id() -> None:
    first = await rss(Feed(fixture("rss/undated_item.xml")))
    again = await rss(Feed(fixture("rss/undated_item.xml")))
    dated, no_date, no_date_no_link = first.posts
    assert dated.published_at == at(2026, 11, 24, 10)
    assert no_date == Post("https://www.voorbeeld.nl/bekendmakingen/molenlaan", None)
    assert no_date_no_link.published_at is None
    assert no_date_no_link.post_id.startswith("sha1:")
    assert again.posts == first.posts


async def test_repeated_guids_are_reported_once() -> None:
    item = b"<item><guid>urn:x:1</guid><pubDate>Tue, 24 Nov 2026 11:00:00 GMT</pubDate></item>"
    body = b'<rss version="2.0"><channel><title>t</title>' + item * 2 + b"</channel></rss>"
    result = await rss(Feed(body))
    assert result.posts == (Post("urn:x:1", at(2026, 11, 24, 11)),)


async def test_a_feed_served_as_text_html_is_still_read() -> None:
    served = Feed(fixture("rss/gemeente_nieuws.xml"), headers={"content-type": HTML_TYPE})
    proper = await rss(Feed(fixture("rss/gemeente_nieuws.xml")))
    assert (await rss(served)).posts == proper.posts
    assert len(proper.posts) == 4


async def test_a_feed_without_content_type_is_still_read() -> None:
    served = Feed(fixture("rss/gemeente_nieuws.xml"))
    served.headers.pop("content-type")
    assert len((await rss(served)).posts) == 4


# -- conditional requests -----------------------------------------------------------------------


async def test_first_poll_is_unconditional_and_stores_the_validators() -> None:
    feed = Feed(
        fixture("rss/gemeente_nieuws.xml"),
        headers={"ETag": 'W/"5f3a-18342"', "Last-Modified": "Wed, 25 Nov 2026 15:02:11 GMT"},
    )
    result = await rss(feed)
    (request,) = feed.requests
    assert "if-none-match" not in request.headers
    assert "if-modified-since" not in request.headers
    assert result.checkpoint == Checkpoint(
        etag='W/"5f3a-18342"', last_modified="Wed, 25 Nov 2026 15:02:11 GMT"
    )


async def test_the_checkpoint_makes_the_request_conditional() -> None:
    feed = Feed(fixture("rss/gemeente_nieuws.xml"))
    checkpoint = Checkpoint(etag='"abc"', last_modified="Tue, 24 Nov 2026 08:00:00 GMT")
    result = await rss(feed, checkpoint)
    (request,) = feed.requests
    assert request.headers["if-none-match"] == '"abc"'
    assert request.headers["if-modified-since"] == "Tue, 24 Nov 2026 08:00:00 GMT"
    # the server sent no validators this time: the old ones must not be replayed
    assert result.checkpoint == Checkpoint()


async def test_304_is_a_successful_poll_with_nothing_new() -> None:
    checkpoint = Checkpoint(etag='"abc"', extra={"kept": "yes"})
    result = await rss(Feed(b"", status=304, headers={"ETag": '"abc"'}), checkpoint)
    assert result == FetchResult(not_modified=True, checkpoint=checkpoint)


async def test_304_to_an_unconditional_request_is_malformed() -> None:
    with pytest.raises(Malformed, match="304"):
        await rss(Feed(b"", status=304))


async def test_an_unfollowed_redirect_is_malformed_not_a_feed() -> None:
    feed = Feed(b"", status=301, headers={"Location": "https://elders.example/rss"})
    with pytest.raises(Malformed, match="301"):
        await rss(feed)


# -- where malformed begins ---------------------------------------------------------------------


async def test_a_truncated_feed_is_malformed_although_feedparser_recovers_entries() -> None:
    with pytest.raises(Malformed) as caught:
        await rss(Feed(fixture("rss/malformed_truncated.xml")))
    assert caught.value.kind == "malformed"
    assert "not well-formed XML" in str(caught.value)
    assert "line 15, column 0" in str(caught.value)
    assert "begr" not in str(caught.value)  # no body content in the message


async def test_a_bare_ampersand_makes_a_feed_malformed() -> None:
    with pytest.raises(Malformed, match="not well-formed XML: not well-formed"):
        await rss(Feed(fixture("rss/unescaped_ampersand.xml")))


@pytest.mark.parametrize("content_type", [HTML_TYPE, RSS_TYPE])
async def test_an_html_page_is_malformed(content_type: str) -> None:
    page = Feed(fixture("rss/not_a_feed.html"), headers={"content-type": content_type})
    with pytest.raises(Malformed, match="HTML page") as caught:
        await rss(page)
    assert "niet gevonden" not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"items": []}', "application/json"),
        (b"{not json", "application/json"),
        (
            b'<?xml version="1.0"?><sitemap><loc>https://x.example/</loc></sitemap>',
            "application/xml",
        ),
        (b"\x00\x01\x02\x03", "application/octet-stream"),
    ],
)
async def test_anything_but_rss_or_atom_is_malformed(body: bytes, content_type: str) -> None:
    with pytest.raises(Malformed, match="not an RSS or Atom feed"):
        await rss(Feed(body, headers={"content-type": content_type}))


@pytest.mark.parametrize("body", [b"", b"  \r\n"])
async def test_an_empty_body_is_malformed(body: bytes) -> None:
    with pytest.raises(Malformed, match="empty response"):
        await rss(Feed(body))


async def test_a_feed_cut_off_after_its_channel_header_is_not_an_empty_feed() -> None:
    body = fixture("rss/gemeente_nieuws.xml")
    cut = body[: body.index(b"<item>")]  # parses as rss20 with no entries in the loose parser
    with pytest.raises(Malformed, match="not well-formed XML"):
        await rss(Feed(cut))


# -- size cap ---------------------------------------------------------------------------------

TOO_BIG = 10 * 1024 * 1024 + 1


async def test_a_declared_oversize_body_is_refused() -> None:
    with pytest.raises(Malformed, match="larger than 10 MiB"):
        await rss(Feed(b"<" * TOO_BIG))


async def test_a_streamed_oversize_body_is_refused_without_reading_it_all() -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(40):
            sent += 1
            yield b" " * (1024 * 1024)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks(), headers={"content-type": RSS_TYPE})

    with pytest.raises(Malformed, match="larger than 10 MiB"):
        await rss(handler)
    assert sent < 40


async def test_a_gzip_bomb_is_refused_by_its_decoded_size() -> None:
    bomb = gzip.compress(b" " * TOO_BIG)
    assert len(bomb) < 100_000
    feed = Feed(bomb, headers={"content-encoding": "gzip"})
    with pytest.raises(Malformed, match="larger than 10 MiB"):
        await rss(feed)


async def test_a_gzipped_feed_is_read() -> None:
    feed = Feed(
        gzip.compress(fixture("rss/gemeente_nieuws.xml")), headers={"content-encoding": "gzip"}
    )
    assert len((await rss(feed)).posts) == 4


# -- handles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("handle", ["ftp://www.voorbeeld.nl/rss", "voorbeeld.nl/rss", "https://"])
async def test_a_feed_handle_must_be_an_http_url(handle: str) -> None:
    feed = Feed(b"")
    with pytest.raises(ChannelNotFound):
        await rss(feed, url=handle)
    assert feed.requests == []


async def test_rss_public_url_is_the_feed_url() -> None:
    async with httpx.AsyncClient() as client:
        connector = RssConnector(client, PlatformOptions())
        assert connector.public_url(ChannelRef(FEED_URL)) == FEED_URL


# -- YouTube ----------------------------------------------------------------------------------


async def test_youtube_reads_the_channel_feed_from_youtube_by_default() -> None:
    feed = Feed(fixture("youtube/channel.xml"), headers={"content-type": "text/xml; charset=UTF-8"})
    await youtube(feed)
    (request,) = feed.requests
    assert str(request.url) == f"https://www.youtube.com/feeds/videos.xml?channel_id={CHANNEL_ID}"


async def test_youtube_base_url_is_configurable() -> None:
    feed = Feed(fixture("youtube/channel.xml"))
    await youtube(feed, base_url="http://127.0.0.1:8081/")
    (request,) = feed.requests
    assert str(request.url) == f"http://127.0.0.1:8081/feeds/videos.xml?channel_id={CHANNEL_ID}"


async def test_youtube_posts_are_videos_dated_by_published_never_updated() -> None:
    result = await youtube(Feed(fixture("youtube/channel.xml")))
    assert result.posts == (
        Post("Zq3vK9xW2aE", at(2026, 11, 24, 15, 0, 12)),  # updated 2026-11-26T03:12:45
        Post("b7Hn_Q0pL-4", at(2026, 11, 12, 21, 48, 3)),  # updated 2026-11-25T11:02:19
        Post("4fR8sYtKm1c", at(2026, 10, 30, 10, 0, 6)),  # updated 2026-11-20T17:44:58
    )
    assert result.profile == Profile(
        name="Provincie Voorbeeld", url=f"https://www.youtube.com/channel/{CHANNEL_ID}"
    )


async def test_youtube_entry_with_only_updated_has_no_date() -> None:
    body = fixture("youtube/channel.xml").replace(
        b"<published>2026-11-24T15:00:12+00:00</published>", b""
    )
    result = await youtube(Feed(body))
    assert result.posts[0] == Post("Zq3vK9xW2aE", None)


async def test_youtube_feed_with_an_empty_channel_id_still_reads() -> None:
    result = await youtube(Feed(fixture("youtube/channel_empty_id.xml")))
    assert result.posts == (Post("Zq3vK9xW2aE", at(2026, 11, 24, 15, 0, 12)),)


async def test_youtube_unknown_channel_is_not_found() -> None:
    with pytest.raises(ChannelNotFound):
        await youtube(Feed(b"<!DOCTYPE html><html></html>", status=404))


async def test_youtube_consent_page_instead_of_feed_is_malformed() -> None:
    page = Feed(fixture("rss/not_a_feed.html"), headers={"content-type": HTML_TYPE})
    with pytest.raises(Malformed):
        await youtube(page)


@pytest.mark.parametrize("handle", ["voorbeeld", "UCshort", "@gemeentevoorbeeld", f"{CHANNEL_ID}x"])
async def test_youtube_handle_must_be_a_channel_id(handle: str) -> None:
    feed = Feed(b"")
    async with httpx.AsyncClient(transport=httpx.MockTransport(feed)) as client:
        connector = YouTubeConnector(client, PlatformOptions())
        assert connector.public_url(ChannelRef(handle)) is None
        with pytest.raises(ChannelNotFound):
            await connector.fetch(ChannelRef(handle), since=None, checkpoint=Checkpoint())
    assert feed.requests == []


async def test_youtube_public_url_is_the_channel_page_whatever_the_base_url() -> None:
    async with httpx.AsyncClient() as client:
        connector = YouTubeConnector(client, PlatformOptions(base_url="http://127.0.0.1:9"))
        assert connector.public_url(ChannelRef(CHANNEL_ID)) == (
            f"https://www.youtube.com/channel/{CHANNEL_ID}"
        )


# -- flaky 404s --------------------------------------------------------------------------------


async def test_a_feed_404_is_not_found_marked_flaky_and_410_is_not() -> None:
    with pytest.raises(ChannelNotFound) as missing:
        await rss(Feed(fixture("rss/not_a_feed.html"), status=404))
    assert missing.value.flaky is True
    assert str(missing.value) == f"HTTP 404 from {FEED_URL}"
    with pytest.raises(ChannelNotFound) as gone:
        await rss(Feed(b"", status=410))
    assert gone.value.flaky is False  # 410 Gone is meant (RFC 9110 §15.5.11)


async def test_a_youtube_404_is_flaky_too() -> None:
    with pytest.raises(ChannelNotFound) as caught:
        await youtube(Feed(b"<!DOCTYPE html><html></html>", status=404))
    assert caught.value.flaky is True


# -- permanent redirects ------------------------------------------------------------------------

NEW_URL = "https://nieuws.voorbeeld.nl/feed.xml"


class Moved:
    """A feed that moved: the old address answers ``status`` with a Location, the new one serves."""

    def __init__(self, status: int = 301, *, location: str = NEW_URL, etag: str = '"v1"') -> None:
        self.status = status
        self.location = location
        self.etag = etag
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if str(request.url) == FEED_URL:
            return httpx.Response(self.status, headers={"Location": self.location})
        if request.headers.get("if-none-match") == self.etag:
            return httpx.Response(304, headers={"ETag": self.etag})
        headers = {"content-type": RSS_TYPE, "ETag": self.etag}
        return httpx.Response(200, content=fixture("rss/gemeente_nieuws.xml"), headers=headers)

    @property
    def urls(self) -> list[str]:
        return [str(r.url) for r in self.requests]


@pytest.mark.parametrize("status", [301, 308])
async def test_a_permanent_redirect_is_followed_once_then_the_new_address_is_read(
    status: int,
) -> None:
    feed = Moved(status)
    first = await rss(feed, follow_redirects=True)
    assert len(first.posts) == 4
    assert first.checkpoint.extra[MOVED_TO] == NEW_URL
    second = await rss(feed, first.checkpoint, follow_redirects=True)
    assert second.not_modified is True
    assert second.checkpoint == first.checkpoint
    assert feed.urls == [FEED_URL, NEW_URL, NEW_URL]


@pytest.mark.parametrize("status", [302, 303, 307])
async def test_a_temporary_redirect_is_followed_every_time(status: int) -> None:
    feed = Moved(status)
    first = await rss(feed, follow_redirects=True)
    assert MOVED_TO not in first.checkpoint.extra
    await rss(feed, first.checkpoint, follow_redirects=True)
    assert feed.urls == [FEED_URL, NEW_URL, FEED_URL, NEW_URL]


TEMPORARY_URL = "https://tijdelijk.voorbeeld.nl/rss"


@pytest.mark.parametrize(
    ("first", "then", "remembered"),
    [
        ((302, TEMPORARY_URL), (301, NEW_URL), None),  # the permanent hop is the stand-in's
        ((301, TEMPORARY_URL), (302, NEW_URL), TEMPORARY_URL),  # moved, then away for a while
        ((301, TEMPORARY_URL), (308, NEW_URL), NEW_URL),  # moved twice
    ],
)
async def test_only_the_leading_permanent_hops_move_the_feed(
    first: tuple[int, str], then: tuple[int, str], remembered: str | None
) -> None:
    hops = {FEED_URL: first, TEMPORARY_URL: then}

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) in hops:
            status, location = hops[str(request.url)]
            return httpx.Response(status, headers={"Location": location})
        return httpx.Response(200, content=fixture("rss/gemeente_nieuws.xml"))

    result = await rss(handler, follow_redirects=True)
    assert result.checkpoint.extra.get(MOVED_TO) == remembered


async def test_a_relative_location_is_remembered_as_an_absolute_address() -> None:
    feed = Moved(location="/feed.xml")
    result = await rss(feed, follow_redirects=True)
    assert result.checkpoint.extra[MOVED_TO] == "https://www.voorbeeld.nl/feed.xml"


async def test_a_move_belongs_to_the_address_it_was_found_for() -> None:
    feed = Moved()
    moved = (await rss(feed, follow_redirects=True)).checkpoint
    other = "https://www.voorbeeld.nl/andere/rss"
    result = await rss(feed, moved, url=other, follow_redirects=True)
    assert feed.urls[-1] == other, "a move found for another address is not used"
    assert MOVED_TO not in result.checkpoint.extra


async def test_a_new_address_that_is_gone_sends_the_poll_back_to_the_configured_one() -> None:
    feed = Moved()
    moved = (await rss(feed, follow_redirects=True)).checkpoint
    served = Feed(fixture("rss/gemeente_nieuws.xml"))  # the move was undone

    def handler(request: httpx.Request) -> httpx.Response:
        return served(request) if str(request.url) == FEED_URL else httpx.Response(404)

    result = await rss(handler, moved, follow_redirects=True)
    (request,) = served.requests
    assert "if-none-match" not in request.headers, "the gone address's validators were sent"
    assert len(result.posts) == 4
    assert MOVED_TO not in result.checkpoint.extra


@pytest.mark.parametrize(
    ("url", "location"),
    [
        (FEED_URL, "http://nieuws.voorbeeld.nl/feed.xml"),  # down to http
        ("https://lezer:geheim@www.voorbeeld.nl/nieuws/rss", NEW_URL),  # credentials
        (FEED_URL, "https://lezer:geheim@nieuws.voorbeeld.nl/feed.xml"),
        (FEED_URL, "https://nieuws.voorbeeld.nl/" + "x" * 1000),  # would not fit
    ],
)
async def test_some_permanent_redirects_are_followed_but_never_remembered(
    url: str, location: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/nieuws/rss":
            return httpx.Response(301, headers={"Location": location})
        return httpx.Response(200, content=fixture("rss/gemeente_nieuws.xml"))

    result = await rss(handler, url=url, follow_redirects=True)
    assert len(result.posts) == 4
    assert result.checkpoint.extra == {}


async def test_a_redirect_to_another_scheme_is_not_followed() -> None:
    feed = Moved(location="ftp://ftp.voorbeeld.nl/nieuws.xml")
    with pytest.raises(Malformed, match="redirects to a ftp: address"):
        await rss(feed, follow_redirects=True)
    assert feed.urls == [FEED_URL]


async def test_a_redirect_loop_is_malformed() -> None:
    feed = Moved(location=FEED_URL)
    with pytest.raises(Malformed, match="too many redirects"):
        await rss(feed, follow_redirects=True)
