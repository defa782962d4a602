"""What one HTML page links, and where on the page: the standard library's ``html.parser``.

An organisation announces its own channels in the page's chrome (the header, footer, menus and
side bars it repeats on every page), with ``rel="me"``, in schema.org JSON-LD (``sameAs`` of the
``Organization`` the page is about) and as feeds in ``<link rel="alternate">``. A link in the
content of a page is more often someone else's: a partner's Page, a campaign, a news item. So
every anchor keeps the region it sits in, and ``monitor.discovery.site`` decides what counts.

Regions: ``<header>`` and ``<footer>`` (not those of an ``<article>`` or ``<main>``, which head
and foot a piece of content), ``<nav>``, ``<aside>``, the ARIA roles ``banner``,
``contentinfo``, ``navigation`` and ``complementary``, and elements whose id or class names a
header, footer or a block of social media links ("social", "follow", "volg").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

_ROLES = {
    "banner": "header",
    "contentinfo": "footer",
    "navigation": "nav",
    "complementary": "aside",
}
_CHROME_TAGS = ("header", "footer", "nav", "aside")
_CONTENT = ("article", "main")  # a header or footer inside these belongs to the content
_CLASS_WORDS = (("footer", "footer"), ("header", "header"))
_SOCIAL_CLASS = re.compile(r"social|follow|volg", re.IGNORECASE)
_VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()  # noqa: SIM905
)
_FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml"})
_ORGANISATION_TYPES = frozenset(
    {"Organization", "GovernmentOrganization", "NGO", "Corporation", "EducationalOrganization"}
    | {"GovernmentOffice", "CityHall", "LocalBusiness", "Consortium", "Project"}
)
_NOT_LINKS = ("javascript:", "mailto:", "tel:", "data:", "sms:", "#")


@dataclass(frozen=True, slots=True)
class Anchor:
    """An ``<a href>``: its absolute URL, its text for people, and where it sits."""

    url: str
    text: str  # its text, an image's alt, aria-label and title, whitespace collapsed
    region: str | None  # header, footer, nav, aside, social; None: the page's content
    rel_me: bool = False
    hint: str = ""  # its class and id, lower case: icon names ("fa-mastodon") live there


@dataclass(frozen=True, slots=True)
class FeedLink:
    """A ``<link rel="alternate">`` to an RSS or Atom feed."""

    url: str
    title: str


@dataclass
class PageLinks:
    """Everything a page links that discovery reads."""

    anchors: list[Anchor] = field(default_factory=list)
    me: list[str] = field(default_factory=list)  # <link rel="me">
    same_as: list[str] = field(default_factory=list)  # JSON-LD sameAs of the organisation
    feeds: list[FeedLink] = field(default_factory=list)
    canonical: str | None = None  # <link rel="canonical">, else og:url
    problems: list[str] = field(default_factory=list)  # unreadable JSON-LD, say


def page_links(html: str, url: str) -> PageLinks:
    """Parse a whole page."""
    parser = LinkParser(url)
    parser.feed(html)
    parser.close()
    return parser.links


class LinkParser(HTMLParser):
    """Collects ``PageLinks`` as the page is fed; ``links`` holds them so far."""

    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links = PageLinks()
        self._base = url
        self._base_set = False
        self._stack: list[tuple[str, str | None]] = []  # open elements and the region each opens
        self._anchor: tuple[str, list[str], bool, str] | None = None  # href, text, rel=me, hint
        self._script: list[str] | None = None  # the JSON-LD being read
        self._og_url: str | None = None

    # -- the parser's callbacks -------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        rel = set(values.get("rel", "").lower().split())
        if tag == "base" and not self._base_set and values.get("href"):
            self._base, self._base_set = self._absolute(values["href"]) or self._base, True
        elif tag == "a":
            self._start_anchor(values, rel)
        elif tag == "link":
            self._link(values, rel)
        elif tag == "meta" and values.get("property", "").lower() == "og:url":
            self._og_url = self._absolute(values.get("content", ""))
        elif tag == "script" and values.get("type", "").strip().lower() == "application/ld+json":
            self._script = []
        elif tag == "img" and self._anchor is not None:
            self._anchor[1].append(values.get("alt", ""))
        if tag not in _VOID:
            self._stack.append((tag, self._region_of(tag, values)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._end_anchor()
        elif tag == "script" and self._script is not None:
            self._json_ld("".join(self._script))
            self._script = None
        # close up to the matching element; a stray end tag closes nothing
        for depth in range(len(self._stack) - 1, -1, -1):
            if self._stack[depth][0] == tag:
                del self._stack[depth:]
                break

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
        elif self._anchor is not None:
            self._anchor[1].append(data)

    def close(self) -> None:
        super().close()
        self._end_anchor()
        if self.links.canonical is None:
            self.links.canonical = self._og_url

    # -- what is collected ------------------------------------------------------------------

    def _start_anchor(self, values: dict[str, str], rel: set[str]) -> None:
        self._end_anchor()  # an <a> never nests: a new one ends the last
        href = self._absolute(values.get("href", ""))
        if href is None:
            return
        text = [values.get("aria-label", ""), values.get("title", "")]
        hint = f"{values.get('class', '')} {values.get('id', '')}".strip().lower()
        self._anchor = (href, text, "me" in rel, hint)

    def _end_anchor(self) -> None:
        if self._anchor is None:
            return
        href, text, rel_me, hint = self._anchor
        self._anchor = None
        words = " ".join(" ".join(text).split())
        self.links.anchors.append(Anchor(href, words, self._region(), rel_me, hint))

    def _link(self, values: dict[str, str], rel: set[str]) -> None:
        href = self._absolute(values.get("href", ""))
        if href is None:
            return
        if "me" in rel:
            self.links.me.append(href)
        if "canonical" in rel and self.links.canonical is None:
            self.links.canonical = href
        kind = values.get("type", "").split(";")[0].strip().lower()
        if "alternate" in rel and kind in _FEED_TYPES:
            self.links.feeds.append(FeedLink(href, " ".join(values.get("title", "").split())))

    def _json_ld(self, text: str) -> None:
        text = text.strip().removeprefix("<!--").removesuffix("-->").strip()
        if not text:
            return
        try:
            data = json.loads(text)
        except ValueError:
            self.links.problems.append("a JSON-LD block is not valid JSON")
            return
        for node in _top_nodes(data):
            if not set(_strings(node.get("@type"))) & _ORGANISATION_TYPES:
                continue
            for item in _strings(node.get("sameAs")):
                if url := self._absolute(item):
                    self.links.same_as.append(url)

    # -- helpers ----------------------------------------------------------------------------

    def _absolute(self, href: str) -> str | None:
        href = href.strip()
        if not href or href.lower().startswith(_NOT_LINKS):
            return None
        try:
            url = urljoin(self._base, href)
            parts = urlsplit(url)
        except ValueError:
            return None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
        return url.partition("#")[0]

    def _region_of(self, tag: str, values: dict[str, str]) -> str | None:
        role = values.get("role", "").strip().lower()
        named = f"{values.get('id', '')} {values.get('class', '')}".lower()
        region = (
            tag
            if tag in _CHROME_TAGS
            else _ROLES.get(role)
            or next((region for word, region in _CLASS_WORDS if word in named), None)
        )
        if region in ("header", "footer") and any(t in _CONTENT for t, _ in self._stack):
            region = None
        if region is None and _SOCIAL_CLASS.search(named):
            region = "social"
        return region

    def _region(self) -> str | None:
        """The innermost landmark (header, footer, nav, aside) around, else "social" if a
        block of social links is, else None."""
        regions = [region for _, region in self._stack if region]
        landmarks = [region for region in regions if region != "social"]
        return landmarks[-1] if landmarks else regions[-1] if regions else None


def _strings(value: object) -> list[str]:
    """A JSON-LD value that may be one string or a list of them."""
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str)]


def _top_nodes(data: object) -> list[dict[str, object]]:
    """The top-level JSON-LD nodes and those of its ``@graph``: the page's own statements, not
    organisations nested in them (a sponsor, a member, a partner)."""
    nodes = data if isinstance(data, list) else [data]
    found: list[dict[str, object]] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        found.append(node)
        graph = node.get("@graph")
        if isinstance(graph, list):
            found.extend(item for item in graph if isinstance(item, dict))
    return found
