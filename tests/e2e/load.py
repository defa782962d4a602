"""Web load against a running daemon: clients that keep asking a page, and a readiness probe.

Shared by ``tests/e2e/test_web_load.py`` and ``benchmarks/web_load.py``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from monitor.fakes.feeds import FeedServer, FeedSpec

WATCHED = "/watched"


@dataclass
class Load:
    """What the daemon answered while under load."""

    seconds: float = 0.0
    pages: int = 0  # answers to the clients' requests
    page_errors: int = 0  # client errors and timeouts (the daemon did not answer in time)
    ready: list[int] = field(default_factory=list)  # /readyz statuses; 0: no answer in time
    ready_seconds: list[float] = field(default_factory=list)  # how long each check took
    polls: int = 0  # requests for the watched feed at the fake server

    @property
    def ready_ok(self) -> float:
        return self.ready.count(200) / len(self.ready) if self.ready else 0.0


async def under_load(
    base: str,
    server: FeedServer,
    *,
    watched: str,
    path: str = "/api/channels",
    clients: int = 8,
    seconds: float = 10.0,
    probe_every: float = 0.5,
    probe_timeout: float = 6.0,  # as the Kubernetes example's readinessProbe
) -> Load:
    """Run ``clients`` loops on ``path`` and a ``/readyz`` probe for ``seconds``."""
    result = Load()
    done = asyncio.Event()
    limits = httpx.Limits(max_connections=clients + 1)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def hammer() -> None:
            while not done.is_set():
                try:
                    response = await client.get(path)
                    response.raise_for_status()
                    result.pages += 1
                except httpx.HTTPError:
                    result.page_errors += 1

        async def probe() -> None:
            while not done.is_set():
                started = time.monotonic()
                try:
                    response = await client.get("/readyz", timeout=probe_timeout)
                    result.ready.append(response.status_code)
                except httpx.HTTPError:
                    result.ready.append(0)
                result.ready_seconds.append(time.monotonic() - started)
                await asyncio.sleep(max(0.0, probe_every - (time.monotonic() - started)))

        before = sum(1 for hit in server.hits if hit.key == watched)
        started = time.monotonic()
        tasks = [asyncio.create_task(hammer()) for _ in range(clients)]
        tasks.append(asyncio.create_task(probe()))
        await asyncio.sleep(seconds)  # the length of the load, not a wait for something
        done.set()
        result.seconds = time.monotonic() - started
        result.polls = sum(1 for hit in server.hits if hit.key == watched) - before
        await asyncio.gather(*tasks)
    return result


def feeds(channels: int, posts: int, every: timedelta) -> tuple[dict[str, FeedSpec], str]:
    """``channels`` feeds of ``posts`` posts each, one ``every``, and a watched one."""
    now = datetime.now(UTC)
    history = [now - every * (i + 1) for i in range(posts)]
    specs = {f"/f{i}": FeedSpec(posts=history) for i in range(channels)}
    # the watched feed ignores conditional requests, as many servers do: each poll parses it
    # (ten posts: a poll's rhythm shows waiting for a thread, not the parser's own work)
    return specs | {WATCHED: FeedSpec(posts=history[:10], validators=False)}, WATCHED


def config(database: Path, base: str, channels: int, *, watched_every: str = "1s") -> str:
    """A configuration: every feed polled every 10 minutes, the watched one every second."""
    orgs = "".join(
        f'[[organisation]]\nname = "Gemeente {i}"\nrss = "{base}/f{i}"\n' for i in range(channels)
    )
    watched = f'{{ handle = "{base}{WATCHED}", poll_interval = "{watched_every}" }}'
    return (
        f'[monitor]\ndatabase = "sqlite:///{database}"\njitter = "0s"\n'
        f'[platforms.rss]\npoll_interval = "10m"\n{orgs}'
        f'[[organisation]]\nname = "Watched"\nrss = [{watched}]\n'
    )
