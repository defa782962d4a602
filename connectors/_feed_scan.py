"""A cheap first pass over a feed: how many entries it has, and, when there are too many, the
feed cut down to its newest ones before feedparser reads it.

feedparser is pure Python and costs about 50 µs per entry whatever the entry holds (an 8 MB feed
of 100,000 entries: several seconds of CPU holding the GIL, which starves the web server's
threads). This pass runs expat with a handful of callbacks (about 3 µs per entry), so a feed of
any length costs feedparser no more than ``limit`` entries.

It reads the document exactly as feedparser's strict parser would: the same conversion to UTF-8
and the same removal of unsafe entity declarations (feedparser's own functions), the same expat
settings (namespaces, no external entities or DTDs fetched). Internal entities are not expanded
here at all (a default handler is set, so expat passes references through), so nothing the
document declares can make this pass do more work than the document's size.
"""

from __future__ import annotations

import calendar
import email.utils
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.parsers import expat

from feedparser.encodings import convert_to_utf8
from feedparser.sanitizer import replace_doctype

_ENTRIES = frozenset({"item", "entry"})  # feedparser starts an entry at each, nested or not
# Child elements feedparser reads as an entry's publication date, then its last change
# (feedparser 6.0: namespaces/_base.py and dc.py; dc:date and dcterms:modified are "updated").
_PUBLISHED = frozenset({"pubdate", "published", "issued"})
_UPDATED = frozenset({"updated", "modified", "date"})
_DATES = _PUBLISHED | _UPDATED
FEED_ROOTS = frozenset({"rss", "rdf", "feed", "channel"})
"""Root elements (local names) feedparser reads as a feed."""


class NotWellFormed(Exception):
    """The strict parser refuses the document: expat's message, where, and the root element
    it had seen (None if none)."""

    def __init__(self, message: str, line: int, column: int, root: str | None) -> None:
        super().__init__(f"{message} at line {line}, column {column}")
        self.message, self.line, self.column, self.root = message, line, column, root


@dataclass(slots=True)
class _Entry:
    """A top-level entry element: where its bytes are, how many entries it holds (itself and
    any nested in it), and its date texts."""

    start: int
    depth: int
    end: int = 0
    weight: int = 1
    content: bool = False  # anything between its tags (to tell <item/> from <item></item>)
    published: str | None = None
    updated: str | None = None


def newest_entries(
    body: bytes, headers: Mapping[str, str], limit: int
) -> tuple[bytes, dict[str, str]] | None:
    """None when the feed has at most ``limit`` entries (read it as it is); otherwise the feed
    with only its ``limit`` newest entries, as UTF-8, and the headers to read it with.

    Newest by publication date, else last change; entries without a date the scan can read
    come last, and ties keep document order (a feed lists its newest first). Everything but the
    dropped entries is kept: the feed's title and links, before or after the entries.
    Raises ``NotWellFormed`` where feedparser's strict parser would fail.
    """
    found: dict[str, object] = {}
    data = convert_to_utf8(dict(headers), body, found)
    if not found.get("encoding"):
        return None  # feedparser says why (CharacterEncodingUnknown)
    _version, data, _entities = replace_doctype(data)
    entries = _Scanner(data).entries()
    if sum(entry.weight for entry in entries) <= limit:
        return None
    cut = dict(headers) | {"content-type": "application/xml; charset=utf-8"}
    return _without(data, entries, _kept(entries, limit)), cut


class _Scanner:
    """One pass of expat over the document: its top-level entries, with their extent, weight
    and dates."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.found: list[_Entry] = []
        self.root: str | None = None
        self.depth = 0
        self.entry: _Entry | None = None  # the top-level entry being read
        self.date: list[str] | None = None  # the text of its date element being read
        self.date_name = ""
        parser = self.parser = expat.ParserCreate(None, " ")
        parser.namespace_prefixes = True
        parser.buffer_text = True
        # as feedparser's SAX reader: external entities and the external DTD are never read
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_UNLESS_STANDALONE)
        parser.ExternalEntityRefHandler = _not_read
        parser.DefaultHandler = _ignore  # also keeps internal entities from being expanded
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.text

    def entries(self) -> list[_Entry]:
        """The top-level entries, in document order; raises ``NotWellFormed``."""
        try:
            self.parser.Parse(self.data, True)
        except expat.ExpatError as exc:
            raise NotWellFormed(
                expat.ErrorString(exc.code) or "not well-formed",
                self.parser.ErrorLineNumber,
                self.parser.ErrorColumnNumber,
                self.root,
            ) from None
        return self.found

    def start(self, name: str, _attrs: object) -> None:
        self.depth += 1
        local = _local(name)
        if self.root is None:
            self.root = local
        entry = self.entry
        if entry is None:
            if local in _ENTRIES:
                self.entry = _Entry(self.parser.CurrentByteIndex, self.depth)
            return
        entry.content = True
        if local in _ENTRIES:
            entry.weight += 1
        elif self.depth == entry.depth + 1 and local in _DATES:
            self.date, self.date_name = [], local

    def text(self, chunk: str) -> None:
        if self.entry is not None:
            self.entry.content = True
            if self.date is not None:
                self.date.append(chunk)

    def end(self, _name: str) -> None:
        entry = self.entry
        if entry is not None:
            if self.date is not None and self.depth == entry.depth + 1:
                _dated(entry, self.date_name, "".join(self.date))
                self.date = None
            elif self.depth == entry.depth:
                # expat is at the "</" of the end tag, or just past an empty-element tag
                at = self.parser.CurrentByteIndex
                empty = not entry.content and self.data[at - 2 : at] == b"/>"
                entry.end = at if empty else self.data.index(b">", at) + 1
                self.found.append(entry)
                self.entry = None
        self.depth -= 1


def _local(name: str) -> str:
    """An element's local name, lowercased, split from expat's "uri local prefix" as
    feedparser's SAX reader splits it."""
    parts = name.split()
    return (parts[1] if len(parts) > 1 else parts[0]).lower()


def _not_read(*_args: object) -> int:
    return 1  # "handled": nothing is fetched


def _ignore(_data: str) -> None:
    return None


def _dated(entry: _Entry, local: str, text: str) -> None:
    if local in _PUBLISHED and entry.published is None:
        entry.published = text
    elif local in _UPDATED and entry.updated is None:
        entry.updated = text


def _kept(entries: list[_Entry], limit: int) -> set[int]:
    """Which entries (by index) to keep: the newest, as many as fit in ``limit``."""

    def rank(index: int) -> tuple[float, int]:
        entry = entries[index]
        when = _timestamp(entry.published) or _timestamp(entry.updated)
        return (-when if when is not None else math.inf, index)

    kept: set[int] = set()
    room = limit
    for index in sorted(range(len(entries)), key=rank):
        if room <= 0:
            break
        if entries[index].weight <= room:
            kept.add(index)
            room -= entries[index].weight
    return kept


def _without(data: bytes, entries: list[_Entry], kept: set[int]) -> bytes:
    pieces = []
    at = 0
    for index, entry in enumerate(entries):
        if index not in kept:
            pieces.append(data[at : entry.start])
            at = entry.end
    pieces.append(data[at:])
    return b"".join(pieces)


def _timestamp(text: str | None) -> float | None:
    """A date as feeds write it (ISO 8601 / RFC 3339, or RFC 822), in seconds; None if it is
    not one of those. Only for ranking: feedparser reads the dates that are kept."""
    if not text:
        return None
    text = text.strip()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        parsed = email.utils.parsedate_tz(text)
        if parsed is None:
            return None
        try:  # an unknown zone (None) is taken as UTC: this only ranks entries
            return float(calendar.timegm((*parsed[:6], 0, 0, 0)) - (parsed[9] or 0))
        except (OverflowError, ValueError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return when.timestamp()
    except (OverflowError, ValueError):
        return None
