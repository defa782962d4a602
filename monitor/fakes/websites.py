"""Fake websites on 127.0.0.1: public bodies' sites and YouTube's channel pages, for discovery.

``WebsiteServer`` serves one site: pages by path, its robots.txt, redirects, and pages streamed
in chunks as a CMS behind a proxy sends them (so a reader may stop early). ``sample_sites``
builds the pages of a few kinds of public bodies, with the places real sites announce their
channels and the decoys they carry beside them:

* a municipality (WordPress-like): footer icons, a "volg ons" page listing more accounts in its
  content, its news feed and a comments feed in ``<head>``, share buttons and a partner's Page
  in an article, Facebook's own Page behind a "like us" badge, a post on Instagram, a contact
  page robots.txt forbids;
* a province: no icons, but JSON-LD ``@graph`` with the ``GovernmentOrganization``'s
  ``sameAs`` (and an event whose organiser, a partner, has a ``sameAs`` of its own),
  ``<link rel="me">`` to its Mastodon account, a blog's "/@name" link that is not Mastodon, and
  its old domain redirecting to the new one;
* a ministry: a home page of 5 MB (an inlined image gallery) whose header links come first and
  whose footer comes after the cap, ``rel="me"`` on an anchor, a press page that redirects to
  another site, a person's LinkedIn profile, a Facebook group;
* a water board whose robots.txt refuses everything to channel-monitor.

``YouTubePages`` serves channel pages as www.youtube.com does: ``/@handle``, ``/c/name``,
``/user/name`` and legacy ``/name`` answer the channel page, whose ``<head>`` has ``<link
rel="canonical" href="https://www.youtube.com/channel/UC…">`` and the channel's feed as
``<link rel="alternate" type="application/rss+xml">``, followed by several hundred kB of inline
script (``ytInitialData``); unknown channels answer 404. Handles are matched case-insensitively
(YouTube handles are). Without the consent cookie (``SOCS``) every page redirects to
consent.youtube.com, as YouTube does for visitors from the EU (yt-dlp sets ``SOCS=CAI`` for
this, ``_initialize_consent``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

from monitor.fakes._common import Clock, FakeServer, utcnow

HTML = "text/html; charset=utf-8"
CHUNK = 64 * 1024
PAD = b"<!--pad-->"


@dataclass(frozen=True)
class PageSpec:
    """One response: a page, a redirect (``location``) or an error."""

    body: str = ""
    status: int = 200
    content_type: str = HTML
    location: str | None = None
    pad_to: int = 0  # bytes: the body is padded to this size where it says <!--pad-->


class WebsiteServer(FakeServer):
    """One website. ``sent`` counts the body bytes written per path."""

    def __init__(
        self,
        pages: Mapping[str, PageSpec] | None = None,
        *,
        robots: str | None = "User-agent: *\nDisallow: /wp-admin/\n",  # None: 404
        robots_status: int = 200,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(clock=clock)
        self.pages = dict(pages or {})
        self.robots = robots
        self.robots_status = robots_status
        self.sent: dict[str, int] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/robots.txt", self._robots)
        app.router.add_get("/{tail:.*}", self._page)

    async def _robots(self, request: web.Request) -> web.Response:
        if self.robots is None:
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        return web.Response(status=self.robots_status, text=self.robots, content_type="text/plain")

    async def _page(self, request: web.Request) -> web.StreamResponse:
        spec = self.pages.get(request.path) or self.pages.get(request.path.rstrip("/") or "/")
        if spec is None:
            return web.Response(status=404, text=_not_found(), content_type="text/html")
        if spec.location is not None:
            if spec.status == 302:
                raise web.HTTPFound(spec.location)
            raise web.HTTPMovedPermanently(spec.location)
        return await self._stream(request, spec)

    async def _stream(self, request: web.Request, spec: PageSpec) -> web.StreamResponse:
        body = spec.body.encode()
        before, _, after = body.partition(PAD)
        if spec.pad_to > len(before) + len(after):
            body = before + _gallery(spec.pad_to - len(before) - len(after)) + after
        response = web.StreamResponse(status=spec.status)
        response.content_type, _, _ = spec.content_type.partition(";")
        if "charset=" in spec.content_type:
            response.charset = spec.content_type.partition("charset=")[2]
        response.content_length = len(body)
        await response.prepare(request)
        sent = 0
        try:
            for start in range(0, len(body), CHUNK):
                await response.write(body[start : start + CHUNK])
                sent += len(body[start : start + CHUNK])
        except (ConnectionResetError, RuntimeError):  # the reader had enough
            pass
        finally:
            self.sent[request.path] = self.sent.get(request.path, 0) + sent
        return response


def _gallery(size: int) -> bytes:
    """Inlined images, as a page builder writes a gallery: data URIs of base64."""
    item = b'<img alt="" src="data:image/png;base64,' + b"iVBORw0KGgo" * 90 + b'">\n'
    return (item * (size // len(item) + 1))[:size]


def _not_found() -> str:
    return "<!doctype html><title>Pagina niet gevonden</title><h1>404</h1>"


class YouTubePages(FakeServer):
    """www.youtube.com's channel pages; ``channels`` maps a path (``@handle``, ``c/name``,
    ``user/name``, ``name``) to a channel id and title."""

    def __init__(self, channels: Mapping[str, tuple[str, str]], *, clock: Clock = utcnow) -> None:
        super().__init__(clock=clock)
        self.channels = {path.lower(): value for path, value in channels.items()}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/robots.txt", self._robots)
        app.router.add_get("/{tail:.*}", self._page)

    async def _robots(self, request: web.Request) -> web.Response:
        # an excerpt of www.youtube.com/robots.txt: channel pages are not disallowed
        text = (
            "# robots.txt file for YouTube\n# Created in the distant future (the year 2000) after\n"
            "User-agent: *\nDisallow: /api/\nDisallow: /comment\nDisallow: /login\n"
            "Disallow: /results\nDisallow: /signup\nDisallow: /youtubei/\n"
        )
        return web.Response(text=text, content_type="text/plain")

    async def _page(self, request: web.Request) -> web.StreamResponse:
        if "SOCS" not in request.cookies and "CONSENT" not in request.cookies:
            target = f"https://www.youtube.com{request.path_qs}"
            location = f"https://consent.youtube.com/m?continue={quote(target, safe='')}&gl=NL"
            raise web.HTTPFound(location)
        key = request.path.strip("/").lower()
        key = key.split("/")[0] if not key.startswith(("c/", "user/")) else key
        found = self.channels.get(key)
        if found is None:
            text = "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>404</body>"
            return web.Response(status=404, text=text, content_type="text/html")
        channel_id, title = found
        return web.Response(text=_channel_page(channel_id, title), content_type="text/html")


def _channel_page(channel_id: str, title: str) -> str:
    url = f"https://www.youtube.com/channel/{channel_id}"
    data = json.dumps({"metadata": {"channelMetadataRenderer": {"externalId": channel_id}}})
    filler = json.dumps({"contents": [{"richItemRenderer": {"n": i}} for i in range(20_000)]})
    return (
        '<!DOCTYPE html><html style="font-size: 10px;font-family: Roboto, Arial, sans-serif;" '
        'lang="nl-NL"><head><meta http-equiv="origin-trial" content="…">'
        f"<title>{title} - YouTube</title>"
        f'<meta property="og:title" content="{title}"><meta property="og:url" content="{url}">'
        f'<link rel="canonical" href="{url}">'
        '<link rel="alternate" type="application/rss+xml" title="RSS" '
        f'href="https://www.youtube.com/feeds/videos.xml?channel_id={channel_id}">'
        f"</head><body><script>var ytInitialData = {data};</script>"
        f"<script>var ytInitialPlayerResponse = {filler};</script></body></html>"
    )
