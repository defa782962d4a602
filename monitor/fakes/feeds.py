"""A fake feed server on 127.0.0.1: RSS 2.0, Atom and YouTube channel feeds, served like real ones.

Reproduces what real feeds do that a connector must survive: RFC 822 dates with named and numeric
zones, ``+00:00`` offsets in Atom, YouTube's feed-level channel id without ``UC``, its ``http://``
self link, no feed-level ``<updated>``, only the latest 15 uploads and entry ``<updated>`` later
than ``<published>``; entries without dates; wrong Content-Types; truncated bodies; gzip when the
client accepts it; ETag/Last-Modified and ``304 Not Modified`` with an empty body; permanent
and temporary redirects; and YouTube's 404s and 500s on and off for channels that exist.

Used by the end-to-end tests and the ``demo`` command, and on its own:
``python -m monitor.fakes.feeds --port 8081 --spec feeds.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email.utils
import hashlib
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http import HTTPStatus
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from yarl import URL

FeedFormat = Literal["rss", "atom", "youtube"]
SITE = "https://www.voorbeeld.nl"
YOUTUBE_LATEST = 15  # the channel feed carries only the latest uploads
CONTENT_TYPES: dict[str, str] = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "youtube": "text/xml; charset=UTF-8",
}
TITLES = (
    "Werkzaamheden aan de Dorpsstraat",
    "Gemeenteraad stemt in met begroting",
    "Nieuwe openingstijden van het gemeentehuis",
    "Subsidie voor verduurzaming van woningen",
    "Afvalkalender: gewijzigde ophaaldagen",
    "Burgemeester opent vernieuwd speelpark",
)
DEFAULT_TITLE = "Nieuws - Gemeente Voorbeeld"
_CEST = timezone(timedelta(hours=2))


@dataclass
class FeedSpec:
    """One feed as the fake server serves it."""

    posts: list[datetime]  # entry publication times, any order
    format: FeedFormat = "rss"
    status: int = 200  # e.g. 404, 500, 429 (sent with Retry-After), 401
    malformed: bool = False  # serve a truncated body that is not well-formed XML
    content_type: str | None = None  # default per format, e.g. "text/html; charset=utf-8"
    validators: bool = True  # send ETag/Last-Modified and answer conditional requests with 304
    undated: int = 0  # extra entries without any date
    title: str = DEFAULT_TITLE
    retry_after: int = 120  # seconds, sent with a 429
    redirect: str | None = None  # Location sent with a 3xx ``status``: a URL or a path here
    flaky: tuple[int, ...] = ()  # statuses answered in turn, request by request (200: as usual)
    delay: float = 0.0  # seconds before answering: a slow web server (the CLI's progress bar)

    def __post_init__(self) -> None:
        if (self.status in REDIRECTS) != bool(self.redirect):
            raise ValueError("a redirect needs a 3xx status and a Location, and only it")
        if any(status not in FLAKY_STATUSES for status in self.flaky):
            raise ValueError(f"flaky statuses are among {FLAKY_STATUSES}")


REDIRECTS = (301, 302, 303, 307, 308)
# YouTube's channel feeds answer 404 and 500 on and off for channels that exist, healing by
# themselves (NetNewsWire #5212; youtube-rss-finder #371: "returning either 404 or 500")
FLAKY_STATUSES = (200, 404, 500)


@dataclass(frozen=True, slots=True)
class Hit:
    """One request the server answered."""

    key: str  # the feed's path, or the channel id for YouTube feeds
    status: int
    conditional: bool  # the request carried If-None-Match or If-Modified-Since
    gzip: bool = False  # the body was sent gzip-encoded
    at: float = field(default=0.0, compare=False)  # time.monotonic() when the request came in


@dataclass(frozen=True, slots=True)
class _Rendered:
    body: bytes
    etag: str
    last_modified: str
    changed_at: datetime


class FeedServer:
    """Serves feeds by path, and YouTube feeds at ``/feeds/videos.xml?channel_id=ID``."""

    def __init__(self, feeds: Mapping[str, FeedSpec], *, max_hits: int = 100_000) -> None:
        self.hits: list[Hit] = []  # the latest ``max_hits``, oldest first
        self._max_hits = max_hits
        self._specs: dict[str, FeedSpec] = {}
        self._served: Counter[str] = Counter()  # requests per feed, for ``flaky`` turns
        self._rendered: dict[str, _Rendered] = {}
        self._runner: web.AppRunner | None = None
        self.base_url: str | None = None
        for key, spec in feeds.items():
            self.set(key, spec)

    def set(self, key: str, spec: FeedSpec) -> None:
        """Add or change a feed while running; its ETag and Last-Modified change with it."""
        previous = self._rendered.get(key)
        changed_at = datetime.now(UTC).replace(microsecond=0)
        if previous is not None and changed_at <= previous.changed_at:
            # Last-Modified has one-second resolution: keep it moving so If-Modified-Since works
            changed_at = previous.changed_at + timedelta(seconds=1)
        body = render(key, spec, changed_at)
        self._specs[key] = spec
        self._rendered[key] = _Rendered(
            body=body,
            etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"',
            last_modified=email.utils.format_datetime(changed_at, usegmt=True),
            changed_at=changed_at,
        )

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start listening; returns the base URL, e.g. ``http://127.0.0.1:40123``."""
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.base_url = f"http://{host}:{bound[1]}"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        key = request.path
        if key == "/feeds/videos.xml":
            key = request.query.get("channel_id", "")
        conditional = "If-None-Match" in request.headers or "If-Modified-Since" in request.headers
        spec = self._specs.get(key)
        if spec is not None and spec.delay:
            await asyncio.sleep(spec.delay)
        status = 404 if spec is None else spec.status
        if spec is not None and spec.flaky:
            turn = spec.flaky[self._served[key] % len(spec.flaky)]
            status = turn if turn != 200 else status
        self._served[key] += 1
        if spec is None or (status >= 300 and status not in REDIRECTS):
            response = _error_page(status)
            if status == 429:
                response.headers["Retry-After"] = str(spec.retry_after if spec else 120)
        elif status in REDIRECTS:
            response = _redirect(request, status, spec.redirect or "/")
        else:
            response = self._feed_response(request, spec, self._rendered[key])
        gzip = bool(response.body) and "gzip" in request.headers.get("Accept-Encoding", "").lower()
        if gzip:
            response.enable_compression(web.ContentCoding.gzip)
        self.hits.append(Hit(key, response.status, conditional, gzip, at=arrived))
        if len(self.hits) > self._max_hits:  # a long-running demo must not grow without bound
            del self.hits[: len(self.hits) - self._max_hits]
        return response

    def _feed_response(
        self, request: web.Request, spec: FeedSpec, rendered: _Rendered
    ) -> web.Response:
        headers = {}
        if spec.validators:
            headers = {"ETag": rendered.etag, "Last-Modified": rendered.last_modified}
            if _not_modified(request, rendered):
                return web.Response(status=304, headers=headers)
        body = rendered.body
        if spec.malformed:
            body = body[: len(body) * 2 // 3]  # cut inside the root element: never well-formed
        headers["Content-Type"] = spec.content_type or CONTENT_TYPES[spec.format]
        return web.Response(status=spec.status, body=body, headers=headers)


def _not_modified(request: web.Request, rendered: _Rendered) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or rendered.etag in tags
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            since = email.utils.parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return rendered.changed_at <= since
    return False


def _redirect(request: web.Request, status: int, location: str) -> web.Response:
    """A redirect as web servers send it: an absolute Location (nginx makes relative ones
    absolute) and a short HTML body; RFC 9110 §15.4 lets clients ignore the body."""
    target = str(request.url.join(URL(location)))
    reason = HTTPStatus(status).phrase
    page = (
        f"<html><head><title>{status} {reason}</title></head>"
        f"<body><h1>{reason}</h1></body></html>\n"
    )
    response = web.Response(status=status, text=page, content_type="text/html", charset="utf-8")
    response.headers["Location"] = target
    return response


def _error_page(status: int) -> web.Response:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    page = (
        f"<!DOCTYPE html>\n<html lang=en><meta charset=utf-8><title>{status} {reason}</title>"
        f"<p><b>{status}.</b> <ins>That's an error.</ins><p>{reason}.</html>\n"
    )
    return web.Response(status=status, text=page, content_type="text/html", charset="utf-8")


# -- rendering ---------------------------------------------------------------------------------


def render(key: str, spec: FeedSpec, changed_at: datetime) -> bytes:
    """The feed document for ``spec``, well-formed (``malformed`` is applied when serving)."""
    entries = _entries(spec.posts)
    if spec.format == "youtube":
        return _youtube(key, spec, entries[:YOUTUBE_LATEST], changed_at).encode()
    if spec.format == "atom":
        return _atom(key, spec, entries, changed_at).encode()
    return _rss(key, spec, entries, changed_at).encode()


def _entries(posts: Sequence[datetime]) -> list[tuple[datetime, str]]:
    """Newest first, each with a token stable across ``set`` calls (its time, and a counter)."""
    times = sorted((_as_utc(p) for p in posts), reverse=True)
    seen: Counter[datetime] = Counter()
    entries = []
    for when in times:
        token = str(int(when.timestamp())) + (f"-{seen[when]}" if seen[when] else "")
        seen[when] += 1
        entries.append((when, token))
    return entries


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rfc822(when: datetime, index: int) -> str:
    # like real CMSs: some write a named zone, others a numeric offset
    if index % 2 == 0:
        return email.utils.format_datetime(when, usegmt=True)
    return email.utils.format_datetime(when.astimezone(_CEST))


def _title(index: int) -> str:
    return TITLES[index % len(TITLES)]


def _rss(
    key: str, spec: FeedSpec, entries: list[tuple[datetime, str]], changed_at: datetime
) -> str:
    items = [
        f"""  <item>
   <title>Zonder datum {n}</title>
   <link>{SITE}/nieuws/zonder-datum-{n}</link>
   <description><![CDATA[<p>Bericht zonder publicatiedatum.</p>]]></description>
   <guid isPermaLink="false">zonder-datum-{n}</guid>
  </item>"""
        for n in range(spec.undated)
    ]
    for i, (when, token) in enumerate(entries):
        link = f"{SITE}/nieuws/{when:%Y/%m/%d}/bericht-{token}"
        items.append(f"""  <item>
   <title>{escape(_title(i))}</title>
   <link>{link}</link>
   <description><![CDATA[<p>Lees het <a href="{link}">hele bericht</a>.</p>]]></description>
   <dc:creator>Afdeling Communicatie</dc:creator>
   <category>Nieuws</category>
   <guid isPermaLink="true">{link}</guid>
   <pubDate>{_rfc822(when, i)}</pubDate>
  </item>""")
    body = "\n".join(items)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">
 <channel>
  <title>{escape(spec.title)}</title>
  <link>{SITE}/nieuws</link>
  <description>Het laatste nieuws van de gemeente</description>
  <language>nl-NL</language>
  <lastBuildDate>{email.utils.format_datetime(changed_at, usegmt=True)}</lastBuildDate>
  <atom:link href={quoteattr(SITE + key)} rel="self" type="application/rss+xml"/>
{body}
 </channel>
</rss>
"""


def _atom(
    key: str, spec: FeedSpec, entries: list[tuple[datetime, str]], changed_at: datetime
) -> str:
    items = [
        f"""  <entry>
   <title>Zonder datum {n}</title>
   <link rel="alternate" type="text/html" href="{SITE}/blog/zonder-datum-{n}"/>
   <id>tag:voorbeeld.nl,2024:blog/zonder-datum-{n}</id>
   <summary>Bericht zonder datum.</summary>
  </entry>"""
        for n in range(spec.undated)
    ]
    for i, (when, token) in enumerate(entries):
        stamp = when.isoformat(timespec="seconds")
        items.append(f"""  <entry>
   <title>{escape(_title(i))}</title>
   <link rel="alternate" type="text/html" href="{SITE}/blog/{token}"/>
   <id>tag:voorbeeld.nl,2024:blog/{token}</id>
   <published>{stamp}</published>
   <updated>{stamp}</updated>
   <author><name>Afdeling Communicatie</name></author>
   <summary type="html">&lt;p&gt;Een bericht van de gemeente.&lt;/p&gt;</summary>
  </entry>""")
    updated = (entries[0][0] if entries else changed_at).isoformat(timespec="seconds")
    body = "\n".join(items)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="nl">
 <title>{escape(spec.title)}</title>
 <link rel="alternate" type="text/html" href="{SITE}/blog"/>
 <link rel="self" type="application/atom+xml" href={quoteattr(SITE + key)}/>
 <id>tag:voorbeeld.nl,2024:{escape(key)}</id>
 <updated>{updated}</updated>
 <author><name>{escape(spec.title)}</name></author>
{body}
</feed>
"""


def _video_id(channel_id: str, token: str) -> str:
    digest = hashlib.sha256(f"{channel_id}/{token}".encode()).digest()[:8]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")  # 11 characters, like YouTube's


def _youtube(
    channel_id: str, spec: FeedSpec, entries: list[tuple[datetime, str]], changed_at: datetime
) -> str:
    channel_url = f"https://www.youtube.com/channel/{channel_id}"

    def author(pad: str) -> str:
        lines = ["<author>", f" <name>{escape(spec.title)}</name>", f" <uri>{channel_url}</uri>"]
        return "\n".join(pad + line for line in [*lines, "</author>"])

    items = []
    dated: list[tuple[datetime | None, str]] = [
        *entries,
        *((None, f"x{n}") for n in range(spec.undated)),
    ]
    for i, (when, token) in enumerate(dated):
        video = _video_id(channel_id, token)
        title = escape(_title(i))
        if when is None:
            dates = f"  <updated>{changed_at.isoformat(timespec='seconds')}</updated>"
        else:
            # <updated> moves on edits and view-count refreshes; always after <published>
            edited = when + max((changed_at - when) / 2, timedelta(minutes=5))
            dates = (
                f"  <published>{when.isoformat(timespec='seconds')}</published>\n"
                f"  <updated>{edited.isoformat(timespec='seconds')}</updated>"
            )
        items.append(f""" <entry>
  <id>yt:video:{video}</id>
  <yt:videoId>{video}</yt:videoId>
  <yt:channelId>{channel_id}</yt:channelId>
  <title>{title}</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v={video}"/>
{author("  ")}
{dates}
  <media:group>
   <media:title>{title}</media:title>
   <media:content url="https://www.youtube.com/v/{video}?version=3"
    type="application/x-shockwave-flash" width="640" height="390"/>
   <media:thumbnail url="https://i1.ytimg.com/vi/{video}/hqdefault.jpg" width="480" height="360"/>
   <media:description>Een video van de gemeente.</media:description>
   <media:community>
    <media:starRating count="{3 + i}" average="5.00" min="1" max="5"/>
    <media:statistics views="{120 + 7 * i}"/>
   </media:community>
  </media:group>
 </entry>""")
    created = min([e[0] for e in entries] + [datetime(2015, 3, 1, 9, 0, tzinfo=UTC)])
    bare = channel_id.removeprefix("UC")  # the feed level omits the UC prefix
    body = "\n".join(items)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015"
 xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">
 <link rel="self" href="http://www.youtube.com/feeds/videos.xml?channel_id={channel_id}"/>
 <id>yt:channel:{bare}</id>
 <yt:channelId>{bare}</yt:channelId>
 <title>{escape(spec.title)}</title>
 <link rel="alternate" href="{channel_url}"/>
{author(" ")}
 <published>{created.isoformat(timespec="seconds")}</published>
{body}
</feed>
"""


# -- command line ------------------------------------------------------------------------------


class _Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    every_days: float
    count: int
    newest_days_ago: float = 0

    def times(self, now: datetime) -> list[datetime]:
        return [
            now - timedelta(days=self.newest_days_ago + i * self.every_days)
            for i in range(self.count)
        ]


class _JsonFeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    posts: list[datetime] | _Schedule = Field(default_factory=list)
    format: FeedFormat = "rss"
    status: int = 200
    malformed: bool = False
    content_type: str | None = None
    validators: bool = True
    undated: int = 0
    title: str = DEFAULT_TITLE
    retry_after: int = 120
    redirect: str | None = None
    flaky: tuple[int, ...] = ()

    def spec(self, now: datetime) -> FeedSpec:
        posts = self.posts.times(now) if isinstance(self.posts, _Schedule) else self.posts
        fields = self.model_dump(exclude={"posts"})
        return FeedSpec(posts=[_as_utc(p) for p in posts], **fields)


def load_specs(path: Path, now: datetime) -> dict[str, FeedSpec]:
    """Feeds from a JSON file: ``{"/news/rss": {...}, "UC…": {"format": "youtube", ...}}``."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise TypeError("the spec file must hold an object: feed path or channel id → feed")
    return {str(key): _JsonFeed.model_validate(value).spec(now) for key, value in raw.items()}


async def _serve(specs: Mapping[str, FeedSpec], host: str, port: int) -> None:
    server = FeedServer(specs)
    base = await server.start(host, port)
    sys.stdout.write(base + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the feeds of a JSON spec file until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m monitor.fakes.feeds",
        description="Serve fake RSS, Atom and YouTube feeds on 127.0.0.1 for tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--spec", type=Path, required=True, help="JSON file describing the feeds")
    args = parser.parse_args(argv)
    try:
        specs = load_specs(args.spec, datetime.now(UTC))
    except (OSError, TypeError, ValueError) as exc:  # ValueError covers JSON and pydantic errors
        sys.stderr.write(f"{args.spec}: {exc}\n")
        return 2
    asyncio.run(_serve(specs, args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
