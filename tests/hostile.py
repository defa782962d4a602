"""Hostile answers for tests and benchmarks: gzip bombs, trickling bodies, odd redirects.

No platform does these on purpose; a compromised or broken server, a captive portal or a proxy
can. ``HostileServer`` serves them on 127.0.0.1 under fixed paths, for any platform's requests.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections import Counter

from aiohttp import web

MiB = 1024 * 1024
_BLOCK = MiB


def gzip_bomb(decoded: int) -> bytes:
    """A valid gzip body of ``decoded`` zero bytes (a multiple of 1 MiB), about 1/1000 its size.

    One MiB is deflated once and the result repeated: after ``Z_FULL_FLUSH`` a deflate block
    refers to nothing before it, so the copies form one valid stream. Building a 2 GiB bomb so
    takes a third of a second (for the CRC) instead of five seconds of compression.
    """
    if decoded % _BLOCK:
        raise ValueError("decoded size must be a multiple of 1 MiB")
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(_BLOCK)
    piece = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(decoded // _BLOCK):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip, deflate, no name, no mtime
    trailer = struct.pack("<II", crc, decoded & 0xFFFFFFFF)
    return header + piece * (decoded // _BLOCK) + end + trailer


class HostileServer:
    """Answers by the first path segment, whatever follows it:

    * ``/bomb/…``: 200 with a gzip bomb (``Content-Encoding: gzip`` whether asked or not),
      JSON or XML by ``bomb_type``;
    * ``/trickle/…``: 200, then one byte every ``trickle_every`` seconds, never ending;
    * ``/file/…``, ``/ftp/…``: 302 to a ``file:`` or ``ftp:`` address;
    * ``/fail/…``: 500.

    ``mode`` (when set) answers every path as that segment would: a test switches a channel
    from failing to hostile without changing its configuration. ``most_in_flight`` counts the
    most requests answered at once, by segment: a request whose client hung up no longer
    counts, even before its handler notices (a trickle notices at its next write).
    """

    def __init__(
        self,
        *,
        bomb: bytes = b"",
        bomb_type: str = "application/json",
        trickle_every: float = 0.5,
        mode: str | None = None,
    ) -> None:
        self.bomb = bomb
        self.bomb_type = bomb_type
        self.trickle_every = trickle_every
        self.mode = mode
        self.hits: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()
        self._open: dict[str, dict[int, web.Request]] = {}  # by id(): requests are unhashable
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        kind = self.mode or request.path.strip("/").split("/")[0]
        self.hits[kind] += 1
        open_now = self._open.setdefault(kind, {})
        for key, other in list(open_now.items()):
            if other.transport is None or other.transport.is_closing():
                del open_now[key]
        open_now[id(request)] = request
        self.most_in_flight[kind] = max(self.most_in_flight[kind], len(open_now))
        try:
            return await self._answer(kind, request)
        finally:
            open_now.pop(id(request), None)

    async def _answer(self, kind: str, request: web.Request) -> web.StreamResponse:
        if kind == "bomb":
            return web.Response(
                body=self.bomb,
                headers={"Content-Type": self.bomb_type, "Content-Encoding": "gzip"},
            )
        if kind == "trickle":
            response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            await response.prepare(request)
            while request.transport is not None and not request.transport.is_closing():
                await response.write(b" ")  # until the client gives up
                await asyncio.sleep(self.trickle_every)
            return response
        if kind in ("file", "ftp"):
            where = "file:///etc/passwd" if kind == "file" else "ftp://127.0.0.1/feed.xml"
            return web.Response(status=302, headers={"Location": where})
        return web.Response(status=500, text="internal error")


def memory_kb(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` figure in kB: ``VmRSS`` (resident now), ``VmHWM`` (its peak)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def reset_peak(pid: int) -> bool:
    """Start ``VmHWM`` over from the resident size now (Linux ``clear_refs`` 5); False if
    refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True
