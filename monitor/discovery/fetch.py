"""Polite, capped reads of web pages: robots.txt first, a size cap, redirects one hop at a time.

Caps, as for the connectors: the shared client's timeout per request (30 s) and at most five
redirects; a page is read up to ``MAX_PAGE_BYTES`` (2 MiB: the HTTP Archive's median HTML
document is about 30 kB, so this only stops the odd page that is mostly inlined images or
scripts, and a decompression bomb, since the cap counts decoded bytes). A longer page is cut
there and read as far as it goes, with a note: its footer may be missed.

robots.txt (RFC 9309) is read once per site with ``urllib.robotparser``, for the product token
``channel-monitor``. Its rules are then matched as RFC 9309 says (the longest matching rule wins,
``*`` and ``$`` are wildcards), which ``RobotFileParser.can_fetch`` does not do (it takes the
first prefix that matches). A robots.txt that is missing or refused (4xx) allows everything; one
that cannot be read (5xx, 429, a network error) disallows everything, as §2.3.1.3–4 require.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from connectors.errors import ConnectorError, safe_url, transport_errors
from monitor.http_client import USER_AGENT

MAX_PAGE_BYTES = 2 * 1024 * 1024
MAX_ROBOTS_BYTES = 500 * 1024  # RFC 9309 §2.5: parse at least the first 500 KiB
MAX_REDIRECTS = 5  # as the shared client
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)


class FetchFailed(Exception):
    """A page could not be read; the message says why, for people."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status that refused it, if one did
        self.url = url  # where it went: the other site a redirect led to


@dataclass(frozen=True, slots=True)
class Fetched:
    """A page as read: where it ended up after redirects, its text, whether it was cut."""

    url: str
    text: str
    truncated: bool = False


def origin(url: str) -> str:
    """``host`` or ``host:port``, lower case."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    return f"{host}:{parts.port}" if parts.port else host


def same_site(url: str) -> str:
    """What "the same site" compares: the ``origin`` but for a leading ``www.`` (and the
    scheme: a site's http:// pages redirect to its https:// ones)."""
    return origin(url).removeprefix("www.")


class Robots:
    """robots.txt of every site asked about, read once each."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._rules: dict[str, RobotFileParser | bool] = {}  # True/False: all allowed/refused

    async def allowed(self, url: str) -> bool:
        """Whether robots.txt lets us read ``url``; FetchFailed when it cannot be read."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{origin(url)}"
        if key not in self._rules:
            self._rules[key] = await self._read(f"{key}/robots.txt")
        rules = self._rules[key]
        if isinstance(rules, bool):
            return rules
        return robots_allow(rules, url)

    async def _read(self, url: str) -> RobotFileParser | bool:
        try:
            with transport_errors():
                async with self._client.stream("GET", url, follow_redirects=True) as response:
                    if response.status_code == 429 or response.status_code >= 500:
                        raise FetchFailed(
                            f"{safe_url(url)} answered HTTP {response.status_code}: "
                            "the site is not read until its robots.txt can be"
                        )
                    if response.status_code >= 400:
                        return True  # none: everything is allowed
                    body, _ = await read_capped(response, MAX_ROBOTS_BYTES)
        except ConnectorError as exc:
            raise FetchFailed(f"robots.txt could not be read ({exc})") from None
        parser = RobotFileParser()
        parser.parse(body.decode("utf-8", errors="replace").splitlines())
        return parser


def robots_allow(parser: RobotFileParser, url: str) -> bool:
    """RFC 9309 §2.2.2: the longest matching rule of our group decides; Allow wins a tie."""
    entries: list[Any] = getattr(parser, "entries", None) or []
    default = getattr(parser, "default_entry", None)
    group = next((e for e in entries if e.applies_to(USER_AGENT)), default)
    if group is None:
        return True
    parts = urlsplit(url)
    target = unquote(parts.path or "/") + (f"?{unquote(parts.query)}" if parts.query else "")
    best: tuple[int, bool] | None = None
    for line in group.rulelines:
        pattern = unquote(str(line.path))
        if pattern and _rule_matches(pattern, target):
            best = max(best or (-1, False), (len(pattern), bool(line.allowance)))
    return best is None or best[1]


def _rule_matches(pattern: str, target: str) -> bool:
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(part) for part in body.split("*")) + ("$" if anchored else "")
    return re.match(regex, target) is not None


async def read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """The body up to ``limit`` decoded bytes, and whether there was more."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


async def fetch_page(
    client: httpx.AsyncClient,
    url: str,
    robots: Robots,
    *,
    site: str | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_PAGE_BYTES,
    enough: Callable[[str], bool] | None = None,
) -> Fetched:
    """GET an HTML page, following redirects one hop at a time, each checked with robots.txt.

    With ``site`` (a ``same_site``), a redirect to another site is refused. ``enough`` may end the
    read early: it is given the text read so far, chunk by chunk.
    """
    for _ in range(MAX_REDIRECTS + 1):
        if site is not None and same_site(url) != site:
            raise FetchFailed(f"{safe_url(url)} is on another site: not read", url=url)
        if not await robots.allowed(url):
            raise FetchFailed(f"robots.txt disallows {safe_url(url)}: not read")
        try:
            with transport_errors():
                async with client.stream(
                    "GET", url, headers=headers, follow_redirects=False
                ) as response:
                    location = response.headers.get("location")
                    if response.is_redirect and location:
                        url = urljoin(url, location)
                        continue
                    return await _html(response, url, max_bytes, enough)
        except ConnectorError as exc:
            raise FetchFailed(str(exc)) from None
    raise FetchFailed(f"more than {MAX_REDIRECTS} redirects from {safe_url(url)}")


async def _html(
    response: httpx.Response, url: str, limit: int, enough: Callable[[str], bool] | None
) -> Fetched:
    if response.status_code >= 400:
        status = response.status_code
        raise FetchFailed(f"HTTP {status} from {safe_url(url)}", status=status, url=url)
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind and kind not in _HTML_TYPES:
        raise FetchFailed(f"{safe_url(url)} is {kind}, not an HTML page")
    pieces: list[str] = []
    decoder: codecs.IncrementalDecoder | None = None
    size = 0
    async for received in response.aiter_bytes():
        chunk = received[: max(0, limit - size)]
        size += len(chunk)
        if decoder is None:
            decoder = _decoder(chunk, response)
        pieces.append(piece := decoder.decode(chunk))
        if size >= limit or (enough is not None and enough(piece)):
            break
    if decoder is not None:
        pieces.append(decoder.decode(b"", final=True))
    return Fetched(url, "".join(pieces), size >= limit)


def _decoder(head: bytes, response: httpx.Response) -> codecs.IncrementalDecoder:
    """By the charset of the Content-Type, else of a ``<meta>`` near the top, else UTF-8."""
    charset = response.charset_encoding
    if charset is None and (found := _CHARSET.search(head[:2048])):
        charset = found.group(1).decode("ascii")
    try:
        return codecs.getincrementaldecoder(charset or "utf-8")(errors="replace")
    except LookupError:  # an unknown charset name
        return codecs.getincrementaldecoder("utf-8")(errors="replace")
