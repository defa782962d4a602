"""Reading one organisation's website: which pages, and which of their links count.

Pages: the home page, then at most ``max_pages - 1`` pages it links on the same site whose
address or link text says they are about contact, the organisation ("about", "over ons"),
social media ("social", "volg ons", "follow") or the press ("pers", "press", "media"), social
media pages first. Nothing deeper. The home page may redirect to another site (a new domain:
the rest is read there, with a note); other pages are not followed off the site.

What counts as the organisation's own channel (the rest is listed as ignored, with the reason):

* a link in the chrome of a page: its header, footer, menus, side bars, or a block whose class
  or id says "social", "follow" or "volg";
* a link with ``rel="me"``, on an ``<a>`` or a ``<link>``;
* a ``sameAs`` of the organisation in the page's JSON-LD (``Organization``,
  ``GovernmentOrganization`` and kin, at the top level or in ``@graph``);
* any link on a social media page (one whose address or link text says so);
* a feed in ``<link rel="alternate" type="application/rss+xml|atom+xml">`` (but a comments feed).

A link to a channel in the content of any other page is taken for someone else's: a partner's
Page, a campaign, a news item about another body.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from monitor.discovery.fetch import FetchFailed, Robots, fetch_page, origin, same_site
from monitor.discovery.handles import Candidate, Elsewhere, Ignored, aliases, classify
from monitor.discovery.links import PageLinks, page_links
from monitor.discovery.model import Aside

MAX_PAGES = 6
_WORDS = re.compile(r"[a-z0-9]+")
# page kinds by the words in a link's address or text, best first
_SOCIAL = {"social", "socials", "socialmedia", "sociale", "volg", "volgons", "follow", "followus"}
_CONTACT = {"contact", "contactgegevens", "contacteer"}
_ABOUT = {"about", "aboutus", "overons", "organisatie", "organisation", "organization"}
_PRESS = {"pers", "press", "perscentrum", "persvoorlichting", "pressroom", "media", "newsroom"}
_KINDS = (_SOCIAL, _CONTACT, _ABOUT, _PRESS)
_NOT_PAGES = re.compile(r"\.(pdf|jpe?g|png|gif|svg|zip|docx?|xlsx?|pptx?|mp4|mp3|ics)$", re.I)
_COMMENTS = re.compile(r"comment|reactie", re.IGNORECASE)
_REGIONS = {"header": "header", "footer": "footer", "nav": "menu", "aside": "side bar"}


@dataclass
class Sighting:
    """A channel as the site links it, with every place it was seen."""

    candidate: Candidate
    sources: list[str] = field(default_factory=list)


@dataclass
class SiteRead:
    """What the pages of one site link."""

    final_url: str
    pages: list[str] = field(default_factory=list)
    channels: dict[tuple[str, str], Sighting] = field(default_factory=dict)
    elsewhere: dict[str, Aside] = field(default_factory=dict)
    ignored: dict[str, Aside] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def count(self, found: Candidate | Elsewhere, source: str) -> None:
        if isinstance(found, Elsewhere):
            self.elsewhere.setdefault(found.url, Aside(found.url, found.platform))
            return
        key = (found.platform, min(aliases(found.platform, found.handle or found.name)))
        sighting = self.channels.setdefault(key, Sighting(found))
        if source not in sighting.sources:
            sighting.sources.append(source)

    def ignore(self, url: str, reason: str) -> None:
        self.ignored.setdefault(url, Aside(url, reason))

    def settle(self) -> None:
        """A link counted anywhere is not also ignored."""
        counted = {s.candidate.url for s in self.channels.values()} | set(self.elsewhere)
        self.ignored = {u: a for u, a in self.ignored.items() if u not in counted}


async def read_site(
    client: httpx.AsyncClient, website: str, *, max_pages: int = MAX_PAGES
) -> SiteRead:
    """Read the home page and the pages it links that may list channels; FetchFailed when
    the home page cannot be read."""
    robots = Robots(client)
    home = await fetch_page(client, website, robots)
    read = SiteRead(final_url=home.url)
    if same_site(home.url) != same_site(website):
        read.notes.append(f"the website moved to {home.url}: update website = … to it")
    site, host = same_site(home.url), origin(home.url)
    links = page_links(home.text, home.url)
    _take(read, links, home.url, host, social=False, truncated=home.truncated)
    for url, social in _subpages(links, home.url, site)[: max(0, max_pages - 1)]:
        try:
            page = await fetch_page(client, url, robots, site=site)
        except FetchFailed as exc:
            read.notes.append(str(exc))
            continue
        found = page_links(page.text, page.url)
        _take(read, found, page.url, origin(page.url), social=social, truncated=page.truncated)
    read.settle()
    return read


def _take(
    read: SiteRead, links: PageLinks, url: str, host: str, *, social: bool, truncated: bool
) -> None:
    """Count or ignore every link of one page (on ``host``, an ``origin``)."""
    path = urlsplit(url).path or "/"
    read.pages.append(url)
    if truncated:
        read.notes.append(f"{path} is longer than 2 MiB: only its start was read")
    read.notes.extend(f"{path}: {problem}" for problem in links.problems)
    for anchor in links.anchors:
        found = classify(
            anchor.url, rel_me=anchor.rel_me, hint=f"{anchor.text} {anchor.hint}", site=host
        )
        if found is None:
            continue
        if isinstance(found, Ignored):
            read.ignore(found.url, found.reason)
        elif anchor.rel_me:
            read.count(found, f'rel="me" on {path}')
        elif anchor.region:
            read.count(found, f"{_REGIONS.get(anchor.region, 'social media links')} of {path}")
        elif social:
            read.count(found, f"social media page {path}")
        else:
            read.ignore(
                found.url,
                f"in the content of {path}, not its header, footer or menus: "
                "probably a partner's or a campaign's page",
            )
    for kind, urls in (('<link rel="me">', links.me), ("JSON-LD sameAs", links.same_as)):
        for link in urls:
            found = classify(link, rel_me=True, site=host)
            if isinstance(found, Ignored):
                read.ignore(found.url, found.reason)
            elif found is not None:
                read.count(found, f"{kind} of {path}")
    for feed in links.feeds:
        if _COMMENTS.search(feed.title) or "/comments/" in urlsplit(feed.url).path:
            read.ignore(feed.url, "a comments feed")
            continue
        read.count(Candidate("rss", feed.url, feed.title or feed.url, feed.url), f"feed of {path}")


def _subpages(links: PageLinks, home: str, site: str) -> list[tuple[str, bool]]:
    """The pages worth reading, best first: (url, whether it is a social media page)."""
    best: dict[str, tuple[int, int, str]] = {}  # page → (kind, order of appearance, url)
    home_key = _page_key(home)
    for order, anchor in enumerate(links.anchors):
        parts = urlsplit(anchor.url)
        key = _page_key(anchor.url)
        if same_site(anchor.url) != site or _NOT_PAGES.search(parts.path) or key == home_key:
            continue
        kinds = [_kind(parts.path), _kind(anchor.text, words=4)]  # a long text is a sentence
        rank = min((k for k in kinds if k is not None), default=None)
        if rank is not None and (key not in best or (rank, order) < best[key][:2]):
            best[key] = (rank, order, anchor.url)
    return [(url, rank == 0) for rank, _, url in sorted(best.values())]


def _kind(text: str, words: int | None = None) -> int | None:
    """0 social media, 1 contact, 2 about, 3 press; None: not a page to read."""
    found = _WORDS.findall(text.lower())[:words]
    tokens = set(found) | {a + b for a, b in itertools.pairwise(found)}
    if found[:1] == ["over"]:  # "over ons", "over de gemeente", "/over"
        tokens.add("overons")
    return next((rank for rank, kind in enumerate(_KINDS) if tokens & kind), None)


def _page_key(url: str) -> str:
    parts = urlsplit(url)
    return (
        f"{same_site(url)}{parts.path.rstrip('/') or '/'}{'?' + parts.query if parts.query else ''}"
    )
