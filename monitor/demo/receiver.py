"""The demo's webhook receiver: it takes the daemon's notifications, prints one line for each,
keeps them (in a JSON Lines file too, with ``--data``) and shows them on a page of its own."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from monitor.untrusted import plain

MAX_KEPT = 500  # notifications kept in memory for the page; the file keeps them all

_PAGE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="10">
<title>[Simulated] channel-monitor demo: notifications</title>
<style>
body { font: 14px/1.45 system-ui, Arial, sans-serif; color: #1f2933; max-width: 900px;
       margin: 24px auto; padding: 0 16px; }
.banner { background: #fff4e5; border: 1px solid #f0b429; border-radius: 6px; padding: 8px 12px; }
article { border-bottom: 1px solid #e4e7eb; padding: 8px 0; }
time { color: #52606d; font-size: 12px; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0; font: inherit; }
</style></head><body>
<h1>Notifications</h1>
<p class="banner"><strong>Simulated data.</strong> What channel-monitor's demo sent to its
webhook, newest first; a team would see these in its chat. The page refreshes itself.</p>
<p><a href="{{ status_page }}">status page</a> · <a href="/api/notifications">JSON</a></p>
{% for n in notifications %}
<article><time>{{ n.received_at }}</time><pre>{{ n.text }}</pre></article>
{% else %}
<p>None yet: the first arrive a few seconds after the first polls.</p>
{% endfor %}
</body></html>
"""
)


@dataclass
class Notification:
    received_at: str
    text: str
    body: dict[str, Any]


@dataclass
class Receiver:
    """A webhook on 127.0.0.1: POST any path to deliver, GET / to read."""

    file: Path | None = None
    status_page: str = "/"
    received: list[Notification] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Listen on a free port of 127.0.0.1; the base URL."""
        app = web.Application(client_max_size=1024**2)
        app.router.add_get("/", self._page)
        app.router.add_get("/api/notifications", self._json)
        app.router.add_post("/{tail:.*}", self._deliver)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _deliver(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="not JSON")
        if not isinstance(body, dict):
            return web.Response(status=400, text="not a JSON object")
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        text = str(body.get("text", ""))
        self.received.append(Notification(now, text, body))
        del self.received[:-MAX_KEPT]
        first = plain(text.splitlines()[0] if text else "(no text)")
        sys.stdout.write(f"notification: {first}\n")
        sys.stdout.flush()
        if self.file is not None:
            with self.file.open("a", encoding="utf-8") as out:
                out.write(json.dumps({"received_at": now, **body}) + "\n")
        return web.Response(text="ok")

    async def _page(self, _: web.Request) -> web.Response:
        page = _PAGE.render(notifications=reversed(self.received), status_page=self.status_page)
        return web.Response(text=page, content_type="text/html")

    async def _json(self, _: web.Request) -> web.Response:
        return web.json_response(
            [{"received_at": n.received_at, **n.body} for n in reversed(self.received)]
        )
