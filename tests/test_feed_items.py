"""How many entries a feed poll reads: the newest 500 dated ones, however many the feed lists.

The real connectors through ``httpx.MockTransport``; feeds shaped like the fixtures (RFC 822
``pubDate`` in RSS, ``+00:00`` offsets in Atom and YouTube, guids as links), only longer.
"""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from connectors.base import ChannelRef, Checkpoint, FetchResult, PlatformOptions
from connectors.errors import Malformed
from connectors.rss import RssConnector
from connectors.youtube import YouTubeConnector

FEED_URL = "https://www.voorbeeld.nl/nieuws/rss"
SITE = "https://www.voorbeeld.nl/nieuws/"
CAP = 500  # the documented number of entries one poll reads (README, "Faults")
NEWEST = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def rss_item(i: int, when: datetime | None, guid: str | None = None) -> str:
    date = f"<pubDate>{email.utils.format_datetime(when)}</pubDate>" if when else ""
    link = guid or f"{SITE}{i}"
    return (
        f"<item><title>Bericht {i}</title><link>{link}</link>"
        f'<guid isPermaLink="true">{link}</guid>{date}'
        f"<description>Nieuws van de gemeente, bericht {i}.</description></item>\n"
    )


def rss(items: Sequence[str], *, doctype: str = "", encoding: str = "utf-8") -> bytes:
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n{doctype}'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>\n'
        "<title>Nieuws - Gemeente Voorbeeld</title>\n"
        f'<atom:link href="{FEED_URL}" rel="self" type="application/rss+xml"/>\n'
        + "".join(items)
        # a channel element after the items: cutting items must not lose it
        + f"<link>{SITE}</link>\n</channel></rss>\n"
    )
    return text.encode(encoding)


async def read(
    body: bytes, content_type: str = "application/rss+xml; charset=utf-8"
) -> FetchResult:
    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    async with httpx.AsyncClient(transport=httpx.MockTransport(serve)) as client:
        connector = RssConnector(client, PlatformOptions())
        return await connector.fetch(ChannelRef(FEED_URL), since=None, checkpoint=Checkpoint())


def hourly(count: int) -> list[datetime]:
    """``count`` times an hour apart, newest first."""
    return [NEWEST - timedelta(hours=i) for i in range(count)]


async def test_a_feed_listing_more_entries_than_the_cap_yields_its_newest() -> None:
    # oldest first, as some archives list them: the newest are at the end of the document
    times = list(reversed(hourly(1200)))
    result = await read(rss([rss_item(i, when) for i, when in enumerate(times)]))
    assert len(result.posts) == CAP
    assert {p.post_id for p in result.posts} == {f"{SITE}{i}" for i in range(700, 1200)}
    assert min(p.published_at for p in result.posts if p.published_at) == times[700]
    assert result.profile is not None
    assert result.profile.name == "Nieuws - Gemeente Voorbeeld"
    assert result.profile.url == SITE  # the channel's <link> after the items is still read


async def test_a_newest_first_feed_keeps_the_head_of_its_document() -> None:
    times = hourly(800)
    result = await read(rss([rss_item(i, when) for i, when in enumerate(times)]))
    assert [p.post_id for p in result.posts] == [f"{SITE}{i}" for i in range(CAP)]
    assert [p.published_at for p in result.posts] == times[:CAP]


async def test_undated_entries_give_way_to_dated_ones() -> None:
    # 450 dated and 300 undated entries, interleaved: all dated ones, then undated in order
    items = []
    dated = iter(hourly(450))
    for i in range(750):
        items.append(rss_item(i, None if i % 5 in (1, 3) else next(dated)))
    result = await read(rss(items))
    assert len(result.posts) == CAP
    assert sum(1 for p in result.posts if p.published_at) == 450
    undated = [p.post_id for p in result.posts if p.published_at is None]
    assert undated == [f"{SITE}{i}" for i in range(750) if i % 5 in (1, 3)][:50]


async def test_a_feed_of_exactly_the_cap_is_read_whole() -> None:
    result = await read(rss([rss_item(i, when) for i, when in enumerate(hourly(CAP))]))
    assert len(result.posts) == CAP


def atom(entries: Sequence[str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Provincie Voorbeeld</title><id>tag:voorbeeld.nl,2026:nieuws</id>"
        f'<link rel="alternate" href="{SITE}"/><updated>2026-11-25T10:00:00+00:00</updated>\n'
        + "".join(entries)
        + "</feed>\n"
    ).encode()


def atom_entry(i: int, *, published: datetime | None, updated: datetime) -> str:
    first = f"<published>{published.isoformat()}</published>" if published else ""
    return (
        f"<entry><id>tag:voorbeeld.nl,2026:{i}</id><title>Bericht {i}</title>"
        f'<link rel="alternate" href="{SITE}{i}"/>{first}'
        f"<updated>{updated.isoformat()}</updated></entry>\n"
    )


async def test_atom_entries_are_ranked_by_published_else_updated() -> None:
    # even entries have <published> (and a later <updated>), odd ones only <updated>
    times = list(reversed(hourly(900)))
    entries = [
        atom_entry(
            i,
            published=when if i % 2 == 0 else None,
            updated=when + (timedelta(days=400) if i % 2 == 0 else timedelta(0)),
        )
        for i, when in enumerate(times)
    ]
    result = await read(atom(entries), "application/atom+xml")
    assert {p.post_id for p in result.posts} == {
        f"tag:voorbeeld.nl,2026:{i}" for i in range(400, 900)
    }


async def test_a_youtube_feed_reads_its_newest_videos_by_published() -> None:
    channel = "UCq8Xb4yPGBNVhbE0p1n7bWQ"
    times = list(reversed(hourly(700)))
    entries = "".join(
        f"<entry><id>yt:video:vid{i:08d}</id><yt:videoId>vid{i:08d}</yt:videoId>"
        f"<yt:channelId>{channel}</yt:channelId><title>Video {i}</title>"
        f'<link rel="alternate" href="https://www.youtube.com/watch?v=vid{i:08d}"/>'
        f"<published>{when.isoformat()}</published>"
        # YouTube moves <updated> on every refresh: it must not decide which are newest
        f"<updated>{(NEWEST - timedelta(hours=i)).isoformat()}</updated></entry>\n"
        for i, when in enumerate(times)
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" '
        'xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">'
        f"<id>yt:channel:q8Xb4yPGBNVhbE0p1n7bWQ</id><yt:channelId>q8Xb4yPGBNVhbE0p1n7bWQ"
        f"</yt:channelId><title>Gemeente Voorbeeld</title>{entries}</feed>"
    ).encode()

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=body, headers={"content-type": "text/xml; charset=UTF-8"}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(serve)) as client:
        connector = YouTubeConnector(client, PlatformOptions())
        result = await connector.fetch(ChannelRef(channel), since=None, checkpoint=Checkpoint())
    assert {p.post_id for p in result.posts} == {f"vid{i:08d}" for i in range(200, 700)}


async def test_entries_nested_in_entries_count_against_the_cap() -> None:
    # feedparser makes an entry of every <item>, nested or not
    items = [
        f"<item><guid>{SITE}{i}</guid><pubDate>{email.utils.format_datetime(when)}</pubDate>"
        f"<item><guid>{SITE}{i}/nested</guid></item></item>\n"
        for i, when in enumerate(hourly(400))
    ]
    result = await read(rss(items))
    assert len(result.posts) <= CAP
    assert f"{SITE}0" in {p.post_id for p in result.posts}


async def test_the_cut_reads_a_declared_encoding_as_the_whole_feed_does() -> None:
    # ids with non-ASCII characters, in windows-1252 named only by the Content-Type
    def items(count: int) -> list[str]:
        return [rss_item(i, when, guid=f"{SITE}café-{i}") for i, when in enumerate(hourly(count))]

    content_type = "application/rss+xml; charset=windows-1252"
    whole = await read(rss(items(400), encoding="windows-1252"), content_type)
    cut = await read(rss(items(900), encoding="windows-1252"), content_type)
    assert len(cut.posts) == CAP
    assert cut.posts[:400] == whole.posts
    assert cut.posts[0].post_id == f"{SITE}café-0"


async def test_a_long_feed_that_is_not_well_formed_is_refused_with_its_position() -> None:
    body = rss([rss_item(i, when) for i, when in enumerate(hourly(2000))])
    body = body.replace(b"</channel>", b"R&D </channel>")
    with pytest.raises(Malformed) as caught:
        await read(body)
    assert "not well-formed XML: not well-formed (invalid token) at line 2006, column 3" in str(
        caught.value
    )


async def test_a_long_feed_never_reads_an_external_entity(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("MARKER-THAT-MUST-NOT-LEAK")
    doctype = f'<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "file://{secret}">\n]>\n'
    items = [
        rss_item(i, when).replace("<title>", "<title>&xxe;") for i, when in enumerate(hourly(900))
    ]
    try:
        outcome = repr(await read(rss(items, doctype=doctype)))
    except Malformed as refused:
        outcome = str(refused)
    assert "MARKER" not in outcome


async def test_a_long_feed_with_nested_entities_is_refused_without_expanding_them() -> None:
    lols = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">\n' for n in range(1, 10))
    doctype = f'<!DOCTYPE rss [\n<!ENTITY lol0 "lol">\n{lols}]>\n'
    items = [
        rss_item(i, when).replace("<title>", "<title>&lol9;") for i, when in enumerate(hourly(900))
    ]
    with pytest.raises(Malformed, match="not well-formed XML: undefined entity"):
        await read(rss(items, doctype=doctype))


async def test_entries_of_every_shape_are_cut_cleanly() -> None:
    # empty elements, text or a comment ending in "/>" before the end tag, prefixed names;
    # the older half of each shape is cut out
    shapes = []
    for i, when in enumerate(hourly(1200)):
        date = email.utils.format_datetime(when)
        shapes.append(
            [
                f"<item><guid>{SITE}{i}</guid><pubDate>{date}</pubDate></item>\n",
                f"<item><guid>{SITE}{i}</guid><pubDate>{date}</pubDate>a/></item>\n",
                f"<item><guid>{SITE}{i}</guid><pubDate>{date}</pubDate><!-- x/ --></item>",
                '<item a="/>"/>',
            ][i % 4]
        )
    result = await read(rss(shapes))
    newest = [f"{SITE}{i}" for i in range(1200) if i % 4 != 3][:CAP]
    assert [p.post_id for p in result.posts] == newest

    entries = "".join(
        f"<a:entry><a:id>tag:voorbeeld.nl,2026:{i}</a:id><a:title>Bericht {i}</a:title>"
        f"<a:updated>{when.isoformat()}</a:updated></a:entry >\n"
        for i, when in enumerate(hourly(700))
    )
    prefixed = (
        '<?xml version="1.0"?><a:feed xmlns:a="http://www.w3.org/2005/Atom">'
        f"<a:title>Provincie</a:title>{entries}</a:feed>"
    ).encode()
    result = await read(prefixed, "application/atom+xml")
    assert {p.post_id for p in result.posts} == {f"tag:voorbeeld.nl,2026:{i}" for i in range(CAP)}


def test_parsing_a_feed_tries_no_missing_xml_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """feedparser asks for libxml2's driver first; absent, each parse paid a failed import."""
    import builtins

    from connectors._feed import parse_feed

    asked: list[str] = []
    real_import = builtins.__import__

    def spying(name: str, *args: object, **kwargs: object) -> object:
        asked.append(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    body = rss([rss_item(1, NEWEST)])
    monkeypatch.setattr(builtins, "__import__", spying)
    feed = parse_feed(body, content_type="application/rss+xml", url=FEED_URL)
    monkeypatch.undo()
    assert len(feed.entries) == 1
    assert "drv_libxml2" not in asked
