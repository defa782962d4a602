"""What the fake platform servers share: post-history specs, a request log, start/stop, a CLI.

A post history in a spec file is a list whose items are ISO timestamps, dated objects
(``{"at": "2026-11-20T09:00:00Z", "kind": "repost"}``) or schedules
(``{"every_days": 3, "count": 20, "newest_days_ago": 1, "kinds": ["post", "repost"]}``), or
one schedule on its own. Kinds: ``post``, ``reply`` (in the account's own thread), ``repost``
and ``reply_other`` (a reply to someone else, which "no replies" filters must drop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, TypeAdapter

FakeKind = Literal["post", "reply", "repost", "reply_other"]
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FakePost:
    """One publication in a fake account's history."""

    at: datetime  # when the platform received it (server time)
    kind: FakeKind = "post"
    created_at: datetime | None = None  # a client-supplied time, where it differs (Bluesky)


class _Dated(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime
    kind: FakeKind = "post"
    created_at: AwareDatetime | None = None


class _Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    every_days: float
    count: int
    newest_days_ago: float = 0
    kinds: list[FakeKind] = ["post"]

    def posts(self, now: datetime) -> list[FakePost]:
        kinds = self.kinds or ["post"]
        return [
            FakePost(
                now - timedelta(days=self.newest_days_ago + i * self.every_days),
                kinds[i % len(kinds)],
            )
            for i in range(self.count)
        ]


_ITEMS = TypeAdapter(list[AwareDatetime | _Dated | _Schedule] | _Schedule)


def history(value: object, now: datetime) -> list[FakePost]:
    """Posts from a spec value (see the module docstring), newest first."""
    if value is None:
        return []
    parsed = _ITEMS.validate_python(value)
    posts: list[FakePost] = []
    for item in parsed if isinstance(parsed, list) else [parsed]:
        if isinstance(item, _Schedule):
            posts.extend(item.posts(now))
        elif isinstance(item, _Dated):
            created = item.created_at.astimezone(UTC) if item.created_at else None
            posts.append(FakePost(item.at.astimezone(UTC), item.kind, created))
        else:
            posts.append(FakePost(item.astimezone(UTC)))
    return sorted(posts, key=lambda p: p.at, reverse=True)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as a fake server saw it."""

    path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class RequestLog:
    """Every request served, and how many went to each path."""

    def __init__(self) -> None:
        self.requests: list[LoggedRequest] = []
        self.counts: Counter[str] = Counter()

    def record(self, request: web.Request) -> None:
        headers = tuple((k, v) for k, v in request.headers.items() if k.lower() != "authorization")
        self.requests.append(LoggedRequest(request.path, tuple(request.query.items()), headers))
        self.counts[request.path] += 1

    @property
    def total(self) -> int:
        return len(self.requests)

    def count(self, path: str | None = None) -> int:
        """Requests served in all, or to one path."""
        return self.total if path is None else self.counts[path]

    def reset(self) -> None:
        self.requests.clear()
        self.counts.clear()


def http_date(when: datetime) -> str:
    """An RFC 9110 ``Date`` value."""
    return format_datetime(when.astimezone(UTC), usegmt=True)


def json_response(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    response = web.Response(text=json.dumps(body), status=status, content_type="application/json")
    response.headers.update(headers or {})
    return response


class FakeServer:
    """An aiohttp app on 127.0.0.1 with a request log; ``Date`` headers come from ``clock``."""

    def __init__(self, *, clock: Clock = utcnow) -> None:
        self.clock = clock
        self.log = RequestLog()
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        """Add the platform's routes."""
        raise NotImplementedError

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None
    ) -> str:
        """Serve on ``host:port`` (0: a free port), over https with ``tls``; the base URL."""
        app = web.Application(middlewares=[self._middleware])
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port, ssl_context=tls).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.base_url = f"{'https' if tls else 'http'}://{bound_host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        self.log.record(request)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers["Date"] = http_date(self.clock())
            raise
        response.headers["Date"] = http_date(self.clock())
        return response


def serve_main(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    load: Callable[[Mapping[str, Any], datetime], FakeServer],
) -> int:
    """``--port P --spec FILE.json``: print the base URL and serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--spec", type=Path, required=True, help="JSON file describing accounts")
    args = parser.parse_args(argv)
    try:
        spec = json.loads(args.spec.read_text(encoding="utf-8"))
        server = load(spec, utcnow()) if isinstance(spec, dict) else None
    except (OSError, TypeError, ValueError, KeyError) as exc:  # ValueError: JSON and pydantic
        sys.stderr.write(f"{args.spec}: {exc}\n")
        return 2
    if server is None:
        sys.stderr.write(f"{args.spec}: the spec file must hold a JSON object\n")
        return 2
    asyncio.run(_serve(server, args.host, args.port))
    return 0


async def _serve(server: FakeServer, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write(await server.start(host, port) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await server.stop()
