"""One poll of a flooding feed: the daemon's CPU for it, and how /healthz and /metrics answer
meanwhile.

The feed lists ITEMS entries (100,000 by default, about 8 MB) with new ids on every request, as a
hostile or broken feed may. The real daemon (``python -m monitor run``) runs from the source tree
given by ``--code`` (default: this one), so the same script measures before and after a change;
the feed server runs in its own process, so only the daemon's CPU is counted. Besides the flooding
channel, ``--channels`` ordinary feeds give ``/metrics`` its usual work.

    .venv/bin/python benchmarks/feed_flood.py [--code ../main] [--items 100000] [--channels 50]

Steps: start the daemon, wait until every channel has been read once, probe ``/healthz`` and
``/metrics`` one after the other for a while (the baseline), then let the next poll of the
flooding channel receive the flood, keep probing until that poll is stored, and as long again
after it (every scrape now judges what it stored).
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


# -- the feed server (its own process) ---------------------------------------------------------


def item(key: str, when: datetime) -> str:
    return f"<item><guid>{key}</guid><pubDate>{email.utils.format_datetime(when)}</pubDate></item>"


def feed(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Flood</title><link>https://flood.example/</link>{body}</channel></rss>"
    ).encode()


def flood_body(round_: int, items: int, stamp: datetime) -> bytes:
    """``items`` entries, a second apart, with ids new in every round (about 80 bytes each)."""
    return feed("".join(item(f"{round_}-{i}", stamp - timedelta(seconds=i)) for i in range(items)))


def serve(items: int) -> None:
    """Serve ``/small/N`` (20 entries, answered 304 when unchanged) and ``/flood`` (small until
    ``/arm``, then ``items`` new entries on every request); ``/served`` says when the flood went
    out."""
    now = datetime.now(UTC)
    state: dict[str, Any] = {"armed": False, "served": [], "round": 0}
    small = feed(
        "".join(item(f"https://flood.example/s{i}", now - timedelta(days=i)) for i in range(20))
    )

    async def small_feed(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"small"':
            return web.Response(status=304, headers={"ETag": '"small"'})
        return web.Response(
            body=small, content_type="application/rss+xml", headers={"ETag": '"small"'}
        )

    async def flood(request: web.Request) -> web.Response:
        if not state["armed"]:
            return await small_feed(request)
        state["round"] += 1
        n = state["round"]
        body = flood_body(n, items, datetime.now(UTC))
        state["served"].append(time.time())
        return web.Response(body=body, content_type="application/rss+xml")

    async def arm(request: web.Request) -> web.Response:
        state["armed"] = True
        return web.Response(text="armed")

    async def served(request: web.Request) -> web.Response:
        return web.json_response(state["served"])

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/small/{n}", small_feed)
        app.router.add_get("/flood", flood)
        app.router.add_get("/arm", arm)
        app.router.add_get("/served", served)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the measurement ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 120) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
    except OSError as exc:  # a 503 from /healthz still answered: count its time
        body = str(exc).encode()
    return time.perf_counter() - t0, body


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_polls(metrics: bytes) -> float:
    found = re.search(
        rb'^channel_monitor_poll_duration_seconds_count\{platform="rss"\} (\S+)$', metrics, re.M
    )
    return float(found.group(1)) if found else 0.0


class Prober(threading.Thread):
    """GET /healthz, then /metrics, over and over; every answer's time is kept."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.samples: list[tuple[float, str, float]] = []  # (when it started, path, seconds)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for path in ("/healthz", "/metrics"):
                started = time.time()
                took, _ = get(self.base + path)
                self.samples.append((started, path, took))
            time.sleep(0.1)

    def between(self, start: float, end: float, path: str) -> list[float]:
        return [took for at, p, took in self.samples if p == path and start <= at <= end]


PARSE = """
import sys, time
from connectors._feed import parse_feed
body = open(sys.argv[1], "rb").read()
cpu = time.process_time()
feed = parse_feed(body, content_type="application/rss+xml", url="https://flood.example/feed")
print(time.process_time() - cpu, len(feed.entries))
"""


def parser_cpu(code: Path, body: Path) -> tuple[float, int]:
    """CPU seconds of ``parse_feed`` in ``code`` on ``body`` alone, and the entries it read."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(
        [sys.executable, "-c", PARSE, str(body)], env=env, cwd=code, capture_output=True, check=True
    )
    seconds, entries = out.stdout.split()
    return float(seconds), int(entries)


def measure(code: Path, items: int, channels: int, baseline: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "flood.xml"
        sample.write_bytes(flood_body(1, items, datetime.now(UTC)))
        parse_seconds, parsed = parser_cpu(code, sample)
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--items", str(items)],
            stdout=subprocess.PIPE,
            text=True,
        )
        daemon = None
        try:
            assert server.stdout is not None
            feeds = server.stdout.readline().strip()
            listen = f"127.0.0.1:{free_port()}"
            small = ", ".join(f'"{feeds}/small/{i}"' for i in range(channels))
            config = Path(tmp) / "config.toml"
            config.write_text(
                f'[monitor]\ndatabase = "sqlite:///{tmp}/flood.db"\nlisten = "{listen}"\n'
                'poll_interval = "6h"\njitter = "5s"\npoll_timeout = "10m"\nlog_level = "warning"\n'
                '[platforms.rss]\ntimeout = "5m"\n'
                f'[[organisation]]\nname = "Gemeente Vloed"\nrss = [{{ handle = "{feeds}/flood", '
                'poll_interval = "1m" }]\n'
                f'[[organisation]]\nname = "Gemeente Gewoon"\nrss = [{small}]\n'
            )
            env = {**os.environ, "PYTHONPATH": str(code)}
            daemon = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--config", str(config)],
                cwd=code,
                env=env,
                stderr=subprocess.DEVNULL,
            )
            base = f"http://{listen}"
            deadline = time.time() + 120
            while time.time() < deadline:  # every channel read once
                try:
                    _, body = get(base + "/metrics", timeout=5)
                except OSError:
                    body = b""
                if rss_polls(body) >= channels + 1:
                    break
                time.sleep(0.5)
            else:
                raise SystemExit("the daemon did not read every channel within 2 minutes")
            prober = Prober(base)
            prober.start()
            cpu_idle = cpu_seconds(daemon.pid)
            time.sleep(baseline)
            probe_rate = (cpu_seconds(daemon.pid) - cpu_idle) / baseline  # the probes' own
            armed_at = time.time()
            get(feeds + "/arm")
            while not (served := json.loads(get(feeds + "/served")[1])):
                if time.time() - armed_at > 300:
                    raise SystemExit("the flood was not asked for within 5 minutes")
                time.sleep(0.1)
            cpu_at_flood = cpu_seconds(daemon.pid)
            flood_at = served[0]
            while _when((flood := _flood_channel(base))["last_poll_at"]) < flood_at:
                time.sleep(0.5)  # until the flooding poll is stored
            done_at = time.time()
            cpu = cpu_seconds(daemon.pid) - cpu_at_flood
            time.sleep(baseline)  # scrapes now judge whatever the poll stored
            prober.stop.set()
            prober.join()
        finally:
            if daemon is not None:
                daemon.terminate()
                daemon.wait(30)
            server.terminate()
            server.wait(10)
        stored = (
            sqlite3.connect(f"{tmp}/flood.db").execute("SELECT count(*) FROM post").fetchone()[0]
        )
    idle = (armed_at - baseline, armed_at)
    during = (flood_at, done_at)
    return {
        "parse_feed alone: CPU seconds, entries read": (round(parse_seconds, 2), parsed),
        "poll": f"ok={flood['poll_ok']} error={flood['poll_error']} {flood['poll_error_detail']}",
        "poll seconds (wall, to within 0.5 s)": round(done_at - flood_at, 2),
        "daemon CPU seconds from the flood going out to the poll stored": round(cpu, 2),
        "the same less the probes' idle rate": round(cpu - probe_rate * (done_at - flood_at), 2),
        "posts stored": stored,
        "/healthz seconds idle (median, max)": _summary(prober.between(*idle, "/healthz")),
        "/metrics seconds idle (median, max)": _summary(prober.between(*idle, "/metrics")),
        "/healthz seconds during the poll (median, max)": _summary(
            prober.between(during[0] - 0.5, during[1], "/healthz")
        ),
        "/metrics seconds during the poll (median, max)": _summary(
            prober.between(during[0] - 0.5, during[1], "/metrics")
        ),
        "/metrics seconds after it (median, max)": _summary(
            prober.between(done_at + 1, done_at + baseline, "/metrics")
        ),
    }


def _flood_channel(base: str) -> dict[str, Any]:
    channels = json.loads(get(base + "/api/channels")[1])
    return next(c for c in channels if c["channel"].endswith("/flood"))


def _when(rfc3339: str | None) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() if rfc3339 else 0.0


def _summary(values: list[float]) -> tuple[float, float] | None:
    if not values:
        return None
    return round(statistics.median(values), 3), round(max(values), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--code", type=Path, default=ROOT, help="the source tree to run")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--channels", type=int, default=50, help="ordinary feeds beside it")
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds probed idle")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.items)
        return
    result = measure(args.code.resolve(), args.items, args.channels, args.baseline)
    print(f"code: {args.code.resolve()}  items: {args.items}  ordinary channels: {args.channels}")
    for name, value in result.items():
        print(f"  {name}: {value}")


if __name__ == "__main__":
    main()
