"""One GET and its body, the same way for every connector.

Redirects are followed one hop at a time, as the client is set to, never to anything but
http(s) and without reading a redirect's body. The body is read as it arrives and capped twice:
as sent, and as unpacked. gzip and deflate (the only codings asked for) are unpacked here, at
most ``_PIECE`` bytes at a time, so a 2 MB body that unpacks to 2 GiB costs a few MiB of memory
before it is refused, not 2 GiB (httpx's own decoder unpacks each network chunk whole: one 64 KiB
chunk of a bomb is 64 MiB). JSON bodies of more than ``_INLINE_JSON`` are decoded off the event
loop, as feeds are parsed (``asyncio.to_thread`` neither builds a client nor sleeps: a connector
may use it).
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.errors import Malformed, safe_url

MiB = 1024 * 1024
JSON_MAX_BYTES = 10 * MiB  # far above any page the APIs serve (Graph, Mastodon: < 1 MiB)
ERROR_MAX_BYTES = 1 * MiB  # an error body beyond this is dropped: its status still counts
ACCEPT_ENCODING = "gzip, deflate"  # what ``read_body`` unpacks chunk by chunk, and no more
_PIECE = 64 * 1024  # most bytes unpacked in one step
_DRAIN = 64 * 1024  # most unread bytes read to keep a connection for the next request
_INLINE_JSON = 256 * 1024  # smaller bodies are decoded on the loop: a thread costs more


@dataclass(frozen=True, slots=True)
class Hop:
    """One redirect followed: its status and where it led."""

    status: int
    to: httpx.URL


async def open_get(
    client: httpx.AsyncClient, url: str, **options: Any
) -> tuple[httpx.Response, tuple[Hop, ...]]:
    """GET ``url`` (``params``/``headers`` as for ``client.build_request``), following
    redirects as the client is set to: the final response, its body unread (close it), and
    the hops that led there. A redirect elsewhere than http(s), to an address that cannot be
    parsed, or one too many is ``Malformed``: asking again would not change it."""
    request = client.build_request("GET", url, **options)
    request.headers["Accept-Encoding"] = ACCEPT_ENCODING
    hops: list[Hop] = []
    for _ in range(client.max_redirects + 1):
        try:
            response = await client.send(request, stream=True, follow_redirects=False)
        except httpx.RemoteProtocolError as exc:
            if isinstance(exc.__context__, httpx.InvalidURL):  # a Location httpx cannot parse
                where = safe_url(request.url)
                raise Malformed(f"{where} redirects to an invalid address") from None
            raise
        hop = response.next_request if client.follow_redirects else None
        if hop is None:
            return response, tuple(hops)
        await release(response)
        if hop.url.scheme not in ("http", "https"):
            raise Malformed(
                f"{safe_url(request.url)} redirects to a {hop.url.scheme}: address, not read",
                status=response.status_code,
            )
        hops.append(Hop(response.status_code, hop.url))
        request = hop
    raise Malformed(f"too many redirects from {safe_url(url)}")


async def read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The unpacked body of a streamed response, refused as ``Malformed`` once it is larger than
    ``max_bytes`` as sent or as unpacked. Afterwards ``response.content``, ``.text`` and
    ``.json()`` read it too (the error mappings do)."""
    try:
        body = response.content  # read already: a transport that answers from memory (tests)
    except httpx.ResponseNotRead:
        pass
    else:
        if len(body) > max_bytes:
            raise _too_large(response, max_bytes)
        return body
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(response, max_bytes)
    stages = _stages(response)
    parts: list[bytes] = []
    sent = size = 0
    try:
        async for raw in response.aiter_raw():
            sent += len(raw)
            if sent > max_bytes:
                raise _too_large(response, max_bytes)
            for part in _unpack(stages, raw):
                size += len(part)
                if size > max_bytes:
                    raise _too_large(response, max_bytes)
                parts.append(part)
        for index, stage in enumerate(stages):  # what each stage still holds, through the rest
            for part in _unpack(stages[index + 1 :], stage.flush()):
                size += len(part)
                if size > max_bytes:
                    raise _too_large(response, max_bytes)
                parts.append(part)
    except zlib.error:
        raise Malformed(
            f"undecodable response from {safe_url(response.request.url)}",
            status=response.status_code,
        ) from None
    body = b"".join(parts)
    response._content = body  # what ``Response.aread()`` would have set
    return body


async def get_capped(
    client: httpx.AsyncClient, url: str, *, max_bytes: int = JSON_MAX_BYTES, **options: Any
) -> httpx.Response:
    """GET ``url`` and read its body (``response.content``) within ``max_bytes``.

    An unsuccessful answer's body is read within ``ERROR_MAX_BYTES``; a bigger one is dropped,
    so that the status alone says what went wrong.
    """
    response, _ = await open_get(client, url, **options)
    try:
        limit = max_bytes if response.is_success else min(max_bytes, ERROR_MAX_BYTES)
        try:
            await read_body(response, limit)
        except Malformed:
            if response.is_success:
                raise
            response._content = b""
    finally:
        await release(response)
    return response


async def release(response: httpx.Response) -> None:
    """Close a streamed response, reading a short unread rest first (a 304's empty body, a
    redirect's few bytes) so that its connection goes back to the pool: closed unread, it is
    dropped, and the next request to the host pays a new TCP (and TLS) handshake. A rest longer
    than ``_DRAIN`` bytes, or one that fails, is not worth waiting for: the connection goes."""
    try:
        if not response.is_stream_consumed and not response.is_closed:
            drained = 0
            async for chunk in response.aiter_raw():
                drained += len(chunk)
                if drained > _DRAIN:
                    break
    except httpx.HTTPError:
        pass  # the connection is closed with the response
    finally:
        await response.aclose()


async def decode_json(response: httpx.Response) -> Any:
    """The JSON of a read response: ``Malformed`` when it is none, or nested deeper than the
    parser can follow (``json.loads`` raises ``RecursionError`` there, not ``ValueError``)."""
    body = response.content
    try:
        if len(body) > _INLINE_JSON:
            return await asyncio.to_thread(json.loads, body)
        return json.loads(body)
    except ValueError:
        raise Malformed(
            f"expected JSON from {safe_url(response.request.url)}", status=response.status_code
        ) from None
    except RecursionError:
        raise Malformed(
            f"JSON from {safe_url(response.request.url)} is nested too deeply",
            status=response.status_code,
        ) from None


class _Inflate:
    """One gzip or deflate layer, unpacking at most ``_PIECE`` bytes per step."""

    def __init__(self, wbits: int, *, raw_fallback: bool = False) -> None:
        self._unpack = zlib.decompressobj(wbits)
        self._raw_fallback = raw_fallback  # "deflate" sent without its zlib header (IIS, old PHP)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        pending = True
        while pending and not self._unpack.eof:
            try:
                out = self._unpack.decompress(data, _PIECE)
            except zlib.error:
                if self._started or not self._raw_fallback:
                    raise
                self._unpack = zlib.decompressobj(-zlib.MAX_WBITS)
                self._raw_fallback = False
                continue
            self._started = True
            data = self._unpack.unconsumed_tail
            if out:
                yield out
            # on while input is left, or while a step fills its piece: more may wait inside
            pending = bool(data) or len(out) == _PIECE

    def flush(self) -> bytes:
        return b"" if self._unpack.eof else self._unpack.flush()


def _stages(response: httpx.Response) -> list[_Inflate]:
    """The layers to undo, outermost first (the codings are listed in the order applied)."""
    stages: list[_Inflate] = []
    header = response.headers.get("content-encoding", "")
    for coding in reversed([c.strip().lower() for c in header.split(",") if c.strip()]):
        if coding in ("gzip", "x-gzip"):
            stages.append(_Inflate(zlib.MAX_WBITS | 16))
        elif coding == "deflate":
            stages.append(_Inflate(zlib.MAX_WBITS, raw_fallback=True))
        elif coding != "identity":
            raise Malformed(
                f"unsupported Content-Encoding {coding[:40]!r} from "
                f"{safe_url(response.request.url)} (asked for {ACCEPT_ENCODING})",
                status=response.status_code,
            )
    return stages


def _unpack(stages: Sequence[_Inflate], data: bytes) -> Iterator[bytes]:
    if not stages:
        if data:
            yield data
        return
    for part in stages[0].feed(data):
        yield from _unpack(stages[1:], part)


def _too_large(response: httpx.Response, max_bytes: int) -> Malformed:
    return Malformed(
        f"response from {safe_url(response.request.url)} larger than {max_bytes / MiB:g} MiB",
        status=response.status_code,
    )
