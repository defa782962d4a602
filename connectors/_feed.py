"""Reading RSS 2.0, Atom and YouTube feeds: one conditional download, one strict parse.

Shared by ``connectors.rss`` and ``connectors.youtube``; nothing here leaves those modules.
feedparser's result is an untyped dict, so it is turned into the small typed values below
once, at the boundary, and the connectors only see those.
"""

from __future__ import annotations

import asyncio
import calendar
import email.utils
import hashlib
import io
import re
import time
import xml.sax
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import feedparser
import httpx

from connectors._feed_scan import FEED_ROOTS, NotWellFormed, newest_entries
from connectors._http import Hop, MiB, open_get, read_body, release
from connectors.base import MOVED_TO, Checkpoint
from connectors.errors import (
    ChannelNotFound,
    Malformed,
    raise_for_status,
    safe_url,
    transport_errors,
)

# feedparser asks xml.sax for libxml2's driver first; absent, that import fails anew on every
# parse (a search of sys.path each time: a third of a small feed's parse). Python's own expat
# reader is what it falls back to anyway: name it, and only it.
feedparser.api.PREFERRED_XML_PARSERS[:] = ["xml.sax.expatreader"]

MAX_FEED_BYTES = 10 * MiB  # as sent and as unpacked
MAX_FEED_ITEMS = 500
"""Entries one poll reads from a feed: its newest (see ``_feed_scan.newest_entries``). Enough for
any real channel's posts between two polls; the rest of a longer feed is not read."""
_PERMANENT = (301, 308)  # redirects that move a feed for good (RFC 9110 §15.4)
_MOVED_FROM = "moved_from"  # Checkpoint.extra: the configured address a remembered move is for
_MAX_REMEMBERED = 1000  # characters: both addresses fit the checkpoint's column

# Bozo exceptions that do not make a feed unreadable: feedparser raises them before parsing, and
# when the strict XML parser then fails, its SAXParseException replaces them (checked in
# feedparser 6.0.14: a truncated feed served as text/html reports SAXParseException).
_HARMLESS_BOZO = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry of a parsed feed, reduced to what identifies and dates it."""

    id: str | None
    link: str | None
    title: str
    summary: str
    published: datetime | None
    updated: datetime | None
    video_id: str | None  # ``yt:videoId``, YouTube feeds only


@dataclass(frozen=True, slots=True)
class Feed:
    """A feed that parsed strictly: its title, site link and entries in document order."""

    title: str | None
    link: str | None
    entries: tuple[FeedEntry, ...]


async def read_feed(
    client: httpx.AsyncClient, url: str, checkpoint: Checkpoint
) -> tuple[Feed | None, Checkpoint]:
    """Download and parse the feed at ``url`` conditionally: the feed (None when the server
    answered 304) and the checkpoint to keep.

    A permanent redirect (301, 308) is followed and remembered in the checkpoint, so later polls
    ask the new address directly: "any future references to this resource ought to use one of
    the enclosed URIs" (RFC 9110 §15.4.2, §15.4.9). A temporary one (302, 303, 307) is followed
    every time. Should the remembered address answer "not found", the configured one is asked
    again in the same poll: a move that was undone does not strand the channel.
    """
    moved = checkpoint.extra.get(MOVED_TO) if checkpoint.extra.get(_MOVED_FROM) == url else None
    if moved:
        try:
            return await _read_feed(client, url, moved, checkpoint)
        except ChannelNotFound:
            # the validators belong to the address that is gone
            checkpoint = Checkpoint(extra=_without_move(checkpoint.extra))
    return await _read_feed(client, url, url, checkpoint)


async def _read_feed(
    client: httpx.AsyncClient, url: str, address: str, checkpoint: Checkpoint
) -> tuple[Feed | None, Checkpoint]:
    """Read the feed configured at ``url`` from ``address`` (the same, or where it moved)."""
    headers: dict[str, str] = {}
    if checkpoint.etag:
        headers["If-None-Match"] = checkpoint.etag
    if checkpoint.last_modified:
        headers["If-Modified-Since"] = checkpoint.last_modified
    with transport_errors():
        response, hops = await open_get(client, address, headers=headers)
        moved_to = _moved_to(hops)
        try:
            extra = _without_move(checkpoint.extra)
            remembered = _rememberable(url, moved_to or address)
            if remembered:
                extra |= {MOVED_TO: remembered, _MOVED_FROM: url}
            if response.status_code == 304:
                if not headers:
                    where = safe_url(response.request.url)
                    raise Malformed(f"HTTP 304 to an unconditional request from {where}")
                return None, replace(checkpoint, extra=extra)
            if response.status_code == 404:
                # YouTube's feeds answer 404 on and off for channels that exist (NetNewsWire
                # #5212, youtube-rss-finder #371); 410 Gone is meant, and believed at once
                raise ChannelNotFound(
                    f"HTTP 404 from {safe_url(response.request.url)}", status=404, flaky=True
                )
            raise_for_status(response)
            if not response.is_success:  # 1xx, or a 3xx the client was told not to follow
                raise Malformed(
                    f"unexpected HTTP {response.status_code} from {safe_url(response.request.url)}",
                    status=response.status_code,
                )
            body = await read_body(response, MAX_FEED_BYTES)
            content_type = response.headers.get("content-type")
            validators = Checkpoint(
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                extra=extra,
            )
        finally:
            await release(response)
    # The configured URL, not one redirected to, is the base for relative guids: ids stay stable.
    # Off the event loop: feedparser takes about a second per MB (and about 50 µs an entry, so a
    # feed is cut to MAX_FEED_ITEMS entries first), and feeds may be 10 MiB.
    feed = await asyncio.to_thread(parse_feed, body, content_type=content_type, url=url)
    return feed, validators


def _moved_to(hops: tuple[Hop, ...]) -> str | None:
    """Where the leading permanent hops lead, if any: after a temporary one, nothing moved."""
    moved_to: str | None = None
    for hop in hops:
        if hop.status not in _PERMANENT:
            break
        moved_to = str(hop.to)
    return moved_to


def _rememberable(url: str, address: str) -> str | None:
    """``address`` if a poll of ``url`` should ask it from now on, else None.

    Never a move back to ``url`` or down from https to http, and never where a user name or
    password is part of either address: that would store credentials.
    """
    if address == url or max(len(address), len(url)) > _MAX_REMEMBERED:
        return None
    old, new = httpx.URL(url), httpx.URL(address)
    if old.userinfo or new.userinfo or (old.scheme == "https" and new.scheme != "https"):
        return None
    return address


def _without_move(extra: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in extra.items() if k not in (MOVED_TO, _MOVED_FROM)}


def parse_feed(body: bytes, *, content_type: str | None, url: str) -> Feed:
    """Parse a feed body, or raise ``Malformed`` saying briefly why it is not one.

    Where "malformed" begins (decided by experiment with feedparser 6.0.14):

    * An empty body is malformed: feedparser returns no ``version`` and no error for it.
    * A body feedparser does not recognise as RSS or Atom (``version == ""``) is malformed: an
      HTML page (well-formed or not), JSON, any other XML document.
    * A body the strict XML parser rejects (``SAXParseException``) is malformed, even though
      feedparser's loose fallback still returns entries for it: on a truncated download or a
      mismatched tag that fallback silently loses entries, moves entry fields up into the feed,
      and a feed cut off after its ``<channel>`` element reads as a valid feed with no entries,
      which would report the channel as never posted. This also rejects real-world slips such
      as a bare ``&`` or an undeclared namespace prefix; the message names line and column so
      the publisher can fix them.
    * A wrong or missing Content-Type (``NonXMLContentType``) and a wrong declared encoding
      (``CharacterEncodingOverride``) are harmless: the strict parser still read the document.
    * A well-formed feed without entries is not malformed: it is a success with no posts.

    A feed of more than ``MAX_FEED_ITEMS`` entries is cut to its newest ones before feedparser
    reads it (``_feed_scan``); that first pass also refuses what the strict parser would, so
    feedparser's loose parser never reads a long document only for the error message.
    """
    where = safe_url(url)
    if not body.strip():
        raise Malformed(f"empty response from {where}, not a feed")
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        cut = newest_entries(body, headers, MAX_FEED_ITEMS)
        # Bytes in a BytesIO, never a str: feedparser would treat a str as a URL or a path.
        read = io.BytesIO(cut[0] if cut else body)
        parsed: Any = feedparser.parse(read, response_headers=cut[1] if cut else headers)
    except NotWellFormed as refused:  # here, before feedparser's slow loose parser
        raise _refusal(refused, body, content_type, where) from None
    except Exception as exc:  # a parser bug on hostile input must not escape as one
        raise Malformed(f"feed from {where} could not be parsed ({type(exc).__name__})") from None
    if not parsed.get("version"):
        if _looks_like_html(body, content_type):
            raise Malformed(f"an HTML page at {where}, not a feed")
        raise Malformed(f"not an RSS or Atom feed at {where}")
    problem = parsed.get("bozo_exception")
    if problem is not None and not isinstance(problem, _HARMLESS_BOZO):
        if isinstance(problem, xml.sax.SAXParseException):
            raise Malformed(
                f"feed at {where} is not well-formed XML: {problem.getMessage()} "
                f"at line {problem.getLineNumber()}, column {problem.getColumnNumber()}"
            )
        raise Malformed(f"feed at {where} could not be read strictly ({type(problem).__name__})")
    feed = _get(parsed, "feed")
    entries = _get(parsed, "entries")
    return Feed(
        title=_text(_get(feed, "title")),
        link=_web_link(_get(feed, "link")),
        entries=tuple(_entry(item) for item in entries) if isinstance(entries, list) else (),
    )


def _refusal(
    problem: NotWellFormed, body: bytes, content_type: str | None, where: str
) -> Malformed:
    """What feedparser would have said of a document its strict parser refuses (it would then
    read it again with its loose parser, only for this message)."""
    if problem.root in FEED_ROOTS:
        return Malformed(f"feed at {where} is not well-formed XML: {problem}")
    if _looks_like_html(body, content_type):
        return Malformed(f"an HTML page at {where}, not a feed")
    return Malformed(f"not an RSS or Atom feed at {where}")


def _looks_like_html(body: bytes, content_type: str | None) -> bool:
    if content_type and content_type.split(";")[0].strip().lower() == "text/html":
        return True
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _entry(item: object) -> FeedEntry:
    return FeedEntry(
        id=_text(_get(item, "id")),
        link=_text(_get(item, "link")),
        title=_text(_get(item, "title")) or "",
        summary=_text(_get(item, "summary")) or "",
        published=_date(item, "published"),
        updated=_date(item, "updated"),
        video_id=_text(_get(item, "yt_videoid")),
    )


def _get(mapping: object, key: str) -> object:
    # dict.get, not FeedParserDict.get: the latter answers "updated_parsed" with the published
    # date (and a DeprecationWarning) when an entry has no <updated>.
    return dict.get(mapping, key) if isinstance(mapping, dict) else None


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    return None


def _web_link(value: object) -> str | None:
    link = _text(value)
    if link and link.lower().startswith(("https://", "http://")):
        return link
    return None


# Zone names feedparser's RFC 822 parser does not know (it reads them as UTC), common in
# European feeds: "Wed, 25 Nov 2026 10:00:00 CEST" is 08:00 UTC, not 10:00.
_NAMED_ZONES = {
    "CET": "+0100",
    "CEST": "+0200",
    "WET": "+0000",
    "WEST": "+0100",
    "EET": "+0200",
    "EEST": "+0300",
    "BST": "+0100",
}
_TRAILING_ZONE = re.compile(r"\s([A-Z]{3,4})$")


def _date(item: object, key: str) -> datetime | None:
    raw = _text(_get(item, key))
    found = _TRAILING_ZONE.search(raw) if raw else None
    if raw and found and found.group(1) in _NAMED_ZONES:
        try:
            when = email.utils.parsedate_to_datetime(
                f"{raw[: found.start()]} {_NAMED_ZONES[found.group(1)]}"
            )
        except (TypeError, ValueError, IndexError):
            pass
        else:
            if when.tzinfo is not None:
                return when.astimezone(UTC)
    return _utc(_get(item, f"{key}_parsed"))


def _utc(value: object) -> datetime | None:
    """feedparser's dates are ``time.struct_time`` in UTC; out-of-range ones count as absent."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def entry_id(entry: FeedEntry) -> str:
    """The entry's id or guid, else its link, else a stable hash of its title and summary."""
    if entry.id:
        return entry.id
    if entry.link:
        return entry.link
    text = f"{entry.title}\x00{entry.summary}".encode()
    return "sha1:" + hashlib.sha1(text, usedforsecurity=False).hexdigest()
