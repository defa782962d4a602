"""HTTP: /metrics, /healthz, /readyz, /api/channels, /api/events and a status page at /."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from monitor.api import channel_json
from monitor.report import SUMMARY_HEADER, days, html_table, summary_rows
from monitor.settings import WebSettings
from monitor.views import ChannelView
from monitor.webauth import protection

Snapshot = Callable[[], Awaitable[Sequence[ChannelView]]]
Check = Callable[[], Awaitable[bool]]
EventLog = Callable[[int], Awaitable[Sequence[Mapping[str, Any]]]]  # newest events as JSON
Exposition = Callable[[Callable[[Collector], bytes], CollectorRegistry], bytes]
MAX_EVENTS = 1000

_STATE_COLOURS = {
    "active": "#1a7f37",
    "below_target": "#9a6700",
    "quiet": "#bc4c00",
    "inactive": "#cf222e",
    "dormant": "#82071e",
    "never_posted": "#6e7781",
    "parked": "#57606a",
    "unknown": "#57606a",
}


def build_app(
    *,
    registry: CollectorRegistry,
    snapshot: Snapshot,
    live: Callable[[], str | None],  # why the daemon is not live, or None
    ready: Check,
    clock: Callable[[], datetime],
    events: EventLog | None = None,
    protect: WebSettings | None = None,
    exposition: Exposition | None = None,
) -> web.Application:
    """The aiohttp application; every dependency is passed in.

    ``exposition`` writes ``/metrics`` from the registry and what it keeps besides (the
    per-channel series); without it, the registry alone.

    ``protect`` (the web configuration file) adds basic authentication and response headers;
    TLS is the listening socket's business (``monitor.app``).
    """

    async def metrics(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        if exposition is not None:
            body = await asyncio.to_thread(exposition, encoder, registry)
        else:
            body = await asyncio.to_thread(encoder, registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

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

    async def index(_: web.Request) -> web.Response:
        views = await snapshot()
        return web.Response(text=status_page(views, clock()), content_type="text/html")

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
    return app


def sparkline(weekly: Sequence[int]) -> str:
    """A tiny SVG bar chart of posts per week."""
    top = max(weekly, default=0) or 1
    bars = "".join(
        f'<rect x="{i * 7}" y="{20 - 20 * n / top:.1f}" width="5" height="{20 * n / top:.1f}"/>'
        for i, n in enumerate(weekly)
    )
    title = "posts per week, oldest first: " + ", ".join(map(str, weekly))
    return (
        f'<svg width="{7 * len(weekly)}" height="20" role="img" aria-label="{title}">'
        f"<title>{title}</title><g fill='#0969da'>{bars}</g></svg>"
    )


def status_page(views: Sequence[ChannelView], now: datetime) -> str:
    """The page for people: the survey summary, then every organisation and channel."""
    esc = html.escape
    rows = []
    for v in views:
        state = v.state.value
        colour = _STATE_COLOURS.get(state, "#57606a")
        record = v.record
        if record.last_poll_at is None:
            health = "not polled yet"
        elif record.last_poll_ok:
            health = "ok"
            if record.profile_note:
                health += f"; {record.profile_note}"
        else:
            health = f"failing: {record.last_error_reason} ({record.consecutive_failures}×)"
        if v.stale and record.last_success_at is not None:
            state += f" (as of {record.last_success_at:%Y-%m-%d %H:%M} UTC)"
        name = record.name or v.handle
        link = f'<a href="{esc(record.url)}">{esc(name)}</a>' if record.url else esc(name)
        if v.moved_to:
            moved = f"moved to {esc(v.moved_to)}: update the configuration"
            link += f'<br><small class="moved">{moved}</small>'
        detail = esc(record.last_error_detail or "")
        rows.append(
            f"<tr><td>{esc(v.organisation)}</td><td>{esc(v.platform)}</td><td>{link}</td>"
            f'<td><span class="state" style="background:{colour}">{esc(state)}</span></td>'
            f"<td>{days(v.cadence.silence)}</td><td>{v.cadence.recent_posts.get('30d', 0)}</td>"
            f"<td>{sparkline(v.weekly_posts)}</td>"
            f'<td title="{detail}">{esc(health)}</td></tr>'
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>channel-monitor</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#1f2328}}
table{{border-collapse:collapse;margin-bottom:2rem}}
td,th{{padding:.3rem .6rem;border-bottom:1px solid #d0d7de;text-align:left}}
.state{{color:#fff;border-radius:.8rem;padding:.1rem .6rem;font-size:.85rem}}
.moved{{color:#9a6700}}
</style></head><body>
<h1>Channel activity</h1>
<p>As of {now:%Y-%m-%d %H:%M} UTC.
<a href="/api/channels">JSON</a> · <a href="/metrics">metrics</a></p>
<h2>Per platform</h2>
{html_table(SUMMARY_HEADER, summary_rows(views))}
<h2>Channels</h2>
<table><thead><tr><th>organisation</th><th>platform</th><th>channel</th><th>state</th>
<th>silence</th><th>posts 30 d</th><th>last 12 weeks</th><th>poll</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</body></html>
"""
