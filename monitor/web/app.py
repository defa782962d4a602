"""HTTP: /metrics, /healthz, /readyz, /api/channels, /api/events, the status page at / and a
page per channel at /channel/<id>."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from monitor.api import channel_json
from monitor.settings import WebSettings
from monitor.views import ChannelView
from monitor.web.auth import protection
from monitor.web.channel import channel_page, missing_page
from monitor.web.history import ChannelHistory
from monitor.web.i18n import negotiate
from monitor.web.pages import CSP, Page, PageOptions
from monitor.web.status import status_page

Offload = Callable[..., Awaitable[Any]]  # runs a blocking function(*args) off the event loop
Snapshot = Callable[[], Awaitable[Sequence[ChannelView]]]
Check = Callable[[], Awaitable[bool]]
EventLog = Callable[[int], Awaitable[Sequence[Mapping[str, Any]]]]  # newest events as JSON
History = Callable[[int], Awaitable[ChannelHistory]]  # one channel's posts, polls and events
Exposition = Callable[[Callable[[Collector], bytes], CollectorRegistry], Sequence[bytes]]
"""Writes ``/metrics`` from the registry: the body, in pieces sent one after the other."""
NextPolls = Callable[[], Mapping[int, datetime]]  # the scheduler's plan, by channel id
MAX_EVENTS = 1000
STATIC = Path(__file__).with_name("static")


def build_app(
    *,
    registry: CollectorRegistry,
    snapshot: Snapshot,
    live: Callable[[], str | None],  # why the daemon is not live, or None
    ready: Check,
    clock: Callable[[], datetime],
    events: EventLog | None = None,
    protect: WebSettings | None = None,
    history: History | None = None,
    next_polls: NextPolls | None = None,
    pages: PageOptions | None = None,
    offload: Offload = asyncio.to_thread,
    exposition: Exposition | None = None,
) -> web.Application:
    """The aiohttp application; every dependency is passed in.

    ``offload`` runs the exposition of ``/metrics``. ``exposition`` writes it from the registry
    and the per-channel lines it keeps (the daemon); without it, the registry alone.

    ``protect`` (the web configuration file) adds basic authentication and response headers;
    TLS is the listening socket's business (``monitor.app``). ``pages`` sets the pages' time
    zone and language, and labels simulated data.
    """
    options = pages or PageOptions()

    def page(request: web.Request) -> Page:
        lang = negotiate(
            request.query.get("lang"), options.language, request.headers.get("Accept-Language")
        )
        return Page(options, lang, clock())

    def html_page(text: str, status: int = 200) -> web.Response:
        response = web.Response(text=text, status=status, content_type="text/html")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Vary"] = "Accept-Language"
        return response

    async def metrics(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        if exposition is None:
            body = await offload(encoder, registry)
            return web.Response(body=body, headers={"Content-Type": content_type})
        pieces, size = await offload(_pieces, exposition, encoder, registry)
        headers = {"Content-Type": content_type, "Content-Length": str(size)}
        return web.Response(body=_in_slices(pieces), headers=headers)

    async def healthz(_: web.Request) -> web.Response:
        problem = live()
        if problem is None:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"{problem}\n")

    async def readyz(_: web.Request) -> web.Response:
        if await ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready: database does not answer\n")

    async def api_channels(_: web.Request) -> web.Response:
        views = await snapshot()
        return web.json_response([channel_json(v) for v in views])

    async def index(request: web.Request) -> web.Response:
        views = await snapshot()
        plan = next_polls() if next_polls is not None else {}
        return html_page(status_page(views, page(request), request.query, plan))

    async def channel(request: web.Request) -> web.Response:
        views = await snapshot()
        wanted = request.match_info["id"]
        view = next((v for v in views if str(v.record.id) == wanted), None)
        if view is None:
            return html_page(missing_page(page(request)), status=404)
        past = (
            await history(view.record.id)
            if history is not None
            else ChannelHistory(posts=(), polls=(), events=())
        )
        planned = (next_polls() if next_polls is not None else {}).get(view.record.id)
        return html_page(channel_page(view, past, page(request), planned))

    async def api_events(request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            limit = -1
        if not 1 <= limit <= MAX_EVENTS:
            return web.json_response(
                {"error": f"limit must be a whole number from 1 to {MAX_EVENTS}"}, status=400
            )
        return web.json_response(list(await events(limit)) if events is not None else [])

    app = web.Application(middlewares=[protection(protect)] if protect is not None else [])
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/channels", api_channels)
    app.router.add_get("/api/events", api_events)
    app.router.add_get("/", index)
    app.router.add_get(r"/channel/{id:\d+}", channel)
    app.router.add_static("/static/", STATIC)
    return app


SLICE = 1 << 20
"""Bytes of ``/metrics`` joined and written at a time: the body is never joined whole. At 10,000
channels (30 MB) that kept the daemon at 246 MB resident under a scrape every 5 s, where joining
it off the loop and sending it at once took 329 MB, for scrapes as fast (median 96 and 72 ms)."""


def _pieces(
    exposition: Exposition, encoder: Callable[[Collector], bytes], registry: CollectorRegistry
) -> tuple[Sequence[bytes], int]:
    """The exposition in pieces, and its size."""
    pieces = exposition(encoder, registry)
    return pieces, sum(map(len, pieces))


async def _in_slices(pieces: Sequence[bytes]) -> AsyncIterator[bytes]:
    """The pieces joined a slice at a time: the whole body is never in memory twice (at
    100,000 channels it is some 250 MB), and the loop serves others between slices."""
    slice_: list[bytes] = []
    size = 0
    for piece in pieces:
        slice_.append(piece)
        size += len(piece)
        if size >= SLICE:
            yield b"".join(slice_)
            slice_, size = [], 0
    if slice_:
        yield b"".join(slice_)
