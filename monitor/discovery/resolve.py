"""From a name as linked to the handle a connector takes, where the URL does not hold it.

* YouTube ``@handle``, ``/c/name``, ``/user/name`` and legacy ``/name`` addresses: the channel
  page's ``<link rel="canonical" href="https://www.youtube.com/channel/UC…">`` (read from
  ``[platforms.youtube] base_url``, the page only as far as that link). The request carries the
  cookie ``SOCS=CAI``, a consent already given, as yt-dlp does (``_initialize_consent``): from
  the EU, YouTube otherwise redirects every page to consent.youtube.com.
* LinkedIn vanity names: the Organization Lookup API's ``vanityName`` finder, with the
  configured token; without one (or one that may not look organizations up) the vanity name is
  reported with how to find the id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from connectors.errors import AuthFailed, ConnectorError
from connectors.linkedin import LinkedInConnector
from monitor.config.handles import HANDLE_PATTERNS
from monitor.discovery.fetch import FetchFailed, Robots, fetch_page, origin, same_site
from monitor.discovery.handles import Candidate, classify
from monitor.discovery.links import LinkParser
from monitor.discovery.model import LinkedChannel, LinkStatus

_CHANNEL_ID = re.compile(HANDLE_PATTERNS["youtube"])
YOUTUBE_HEADERS = {"Cookie": "SOCS=CAI", "Accept-Language": "en"}
YOUTUBE_PAGE_BYTES = 4 * 1024 * 1024  # the canonical link is in <head>; the page is ~1 MB
LINKEDIN_HOW = (
    "LinkedIn's API reads organizations by numeric id: a page admin finds it in the address of "
    "the page's admin view (linkedin.com/company/<id>/admin/), or give [platforms.linkedin] a "
    "token with rw_organization_admin and run discover again"
)


@dataclass(frozen=True, slots=True)
class Resolved:
    """What became of one name: the handle, or why there is none."""

    handle: str | None
    status: LinkStatus = "ok"
    note: str | None = None


class Resolver:
    """Resolves names, each once per run."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        youtube_base: str,
        linkedin: LinkedInConnector | None,
    ) -> None:
        self._client = client
        self._youtube = youtube_base.rstrip("/")
        self._linkedin = linkedin
        self._robots = Robots(client)
        self._done: dict[tuple[str, str], Resolved] = {}

    async def channel(self, candidate: Candidate, sources: list[str]) -> LinkedChannel:
        """The linked channel, its handle resolved where the URL did not hold it."""
        resolved = Resolved(candidate.handle)
        if candidate.resolve is not None:
            key = (candidate.resolve, candidate.name.lower())
            if key not in self._done:
                self._done[key] = await self._resolve(candidate)
            resolved = self._done[key]
        return LinkedChannel(
            platform=candidate.platform,
            handle=resolved.handle,
            name=candidate.name,
            url=candidate.url,
            sources=tuple(sources),
            status=resolved.status,
            note=resolved.note,
        )

    async def _resolve(self, candidate: Candidate) -> Resolved:
        if candidate.resolve == "youtube":
            return await self._youtube_id(candidate.name)
        return await self._linkedin_id(candidate.name)

    async def _youtube_id(self, name: str) -> Resolved:
        url = f"{self._youtube}/{name}"
        parser = LinkParser(url)

        def enough(piece: str) -> bool:
            parser.feed(piece)
            return parser.links.canonical is not None

        try:
            page = await fetch_page(
                self._client,
                url,
                self._robots,
                site=same_site(url),
                headers=YOUTUBE_HEADERS,
                max_bytes=YOUTUBE_PAGE_BYTES,
                enough=enough,
            )
        except FetchFailed as exc:
            if exc.status in (404, 410):
                return Resolved(None, "missing", f"YouTube has no channel at /{name}")
            if exc.url and "consent." in origin(exc.url):
                return Resolved(None, "unresolved", "YouTube asked for cookie consent")
            return Resolved(None, "unresolved", f"the channel page could not be read: {exc}")
        if not page.text:
            return Resolved(None, "unresolved", f"the page at /{name} is empty")
        parser.close()
        for link in (parser.links.canonical, *(f.url for f in parser.links.feeds)):
            found = classify(link, rel_me=True) if link else None
            if isinstance(found, Candidate) and found.platform == "youtube" and found.handle:
                return Resolved(found.handle)
            channel_id = httpx.URL(link).params.get("channel_id", "") if link else ""
            if _CHANNEL_ID.fullmatch(channel_id):  # the page's own feed: …?channel_id=UC…
                return Resolved(channel_id)
        return Resolved(None, "unresolved", f"the page at /{name} names no channel id")

    async def _linkedin_id(self, vanity: str) -> Resolved:
        if self._linkedin is None:
            return Resolved(None, note=f"no [platforms.linkedin] access_token: {LINKEDIN_HOW}")
        try:
            found = await self._linkedin.find_vanity(vanity)
        except AuthFailed as exc:
            if exc.status == 403:
                return Resolved(
                    None,
                    note="the LinkedIn token may not look organizations up (that needs "
                    f"rw_organization_admin or r_compliance): {LINKEDIN_HOW}",
                )
            return Resolved(None, "unresolved", f"LinkedIn refused the lookup: {exc}")
        except ConnectorError as exc:
            return Resolved(None, "unresolved", f"LinkedIn could not be asked: {exc}")
        if found is None:
            return Resolved(None, "missing", f"LinkedIn has no organization page {vanity!r}")
        return Resolved(found[0], note=found[1] and f"LinkedIn: {found[1]}")
