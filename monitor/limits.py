"""How many polls run at once: per what a platform meters, and in all.

A platform's ``concurrency`` limits the polls that share what its quota is counted on: a feed's
host (``rss``: websites meter each on their own), a Mastodon server (each meters its own API), and
for the other APIs the app or token (Facebook and Instagram share one when configured with the
same token or app; LinkedIn's app; YouTube's and Bluesky's one API host). ``max_in_flight`` caps
every poll together, to protect the daemon itself. A poll takes its narrow slot first, then a
global one: a poll waiting for a busy host or server holds no global slot. The narrow slot is
given back once the platform has answered (``Slot.read_done``), the global one once the poll is
queued for storing (``Slot.handed_over``): the group commit's wait (``monitor.writer``) holds up
neither a host nor the daemon's reads. The writer queues at most ``max_in_flight`` polls, and a
poll waiting for room keeps its global slot, so the work held for the daemon's database stays
bounded (at most twice ``max_in_flight`` polls read and not yet stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Mapping

import httpx

from monitor.pacing import gate_key
from monitor.settings import DEFAULT_CONCURRENCY

PER_HOST = frozenset({"rss"})
"""Platforms whose channels are feeds on any number of hosts: limited per host (and port)."""
PER_SERVER = frozenset({"mastodon"})
MAX_IN_FLIGHT = 64
"""Polls at once in all, by default (``[monitor] max_in_flight``)."""


@functools.lru_cache(maxsize=1 << 17)  # asked at every poll of a feed
def _host(url: str) -> str | None:
    """``host:port`` of a feed URL (None when httpx cannot read it: the poll says why)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return None
    return f"{parsed.host}:{parsed.port or ''}"


class PollLimits:
    """One semaphore per host, server or app, and one for every poll of the daemon."""

    def __init__(
        self,
        concurrency: Mapping[str, int],
        *,
        max_in_flight: int,
        apps: Mapping[str, str] | None = None,
    ) -> None:
        self._concurrency = dict(concurrency)
        self._apps = dict(apps or {})  # platform → the app it shares (``shared_credentials``)
        self._narrow: dict[str, asyncio.Semaphore] = {}
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self.max_in_flight = max_in_flight

    def key(self, platform: str, handle: str) -> str:
        """What a channel's narrow limit covers: its host, its server or its app."""
        if platform in PER_HOST and (host := _host(handle)) is not None:
            return f"{platform}:{host}"
        if platform in PER_SERVER:
            return gate_key(platform, handle)
        return f"app:{self._apps.get(platform, platform)}"

    def _size(self, platform: str) -> int:
        """A shared app's limit is the smallest its platforms allow."""
        group = self._apps.get(platform)
        members = [p for p, g in self._apps.items() if g == group] if group else [platform]
        sizes = [self._concurrency[p] for p in members if p in self._concurrency]
        return min(sizes, default=DEFAULT_CONCURRENCY.get(platform, 4))

    @contextlib.asynccontextmanager
    async def slot(self, platform: str, handle: str) -> AsyncIterator[Slot]:
        """Hold the channel's narrow slot, then a global one, while the poll runs; the narrow
        one until ``read_done`` (or the end)."""
        key = self.key(platform, handle)
        narrow = self._narrow.get(key)
        if narrow is None:
            narrow = self._narrow[key] = asyncio.Semaphore(self._size(platform))
        await narrow.acquire()
        try:
            await self._in_flight.acquire()
        except BaseException:
            narrow.release()
            raise
        held = Slot(narrow, self._in_flight)
        try:
            yield held
        finally:
            held.read_done()
            held.handed_over()


class Slot:
    """A poll's hold on its host's, server's or app's limit and on one of the daemon's."""

    __slots__ = ("_daemon", "_narrow")

    def __init__(self, narrow: asyncio.Semaphore, daemon: asyncio.Semaphore) -> None:
        self._narrow: asyncio.Semaphore | None = narrow
        self._daemon: asyncio.Semaphore | None = daemon

    def read_done(self) -> None:
        """The platform has answered: the next poll of the host, server or app may start
        (once only; the daemon's own slot is still held)."""
        if self._narrow is not None:
            self._narrow.release()
            self._narrow = None

    def handed_over(self) -> None:
        """The poll is queued for storing: the next poll may start reading (once only)."""
        self.read_done()
        if self._daemon is not None:
            self._daemon.release()
            self._daemon = None
