"""The daemon's first round at scale, and a stop in the middle of it.

N RSS feeds on H hosts (a port on 127.0.0.1 each: the daemon limits feeds per ``host:port``),
served by a small asyncio server in a thread here with LATENCY seconds before each answer and
ETag → 304 Not Modified, as ``daemon_load.py`` (the shared load tool) serves them from one host.
The real daemon (``python -m monitor run``, from the source tree ``--code``, default this one)
polls them every INTERVAL. Reported: the start (until ``/healthz`` answers), the first round
(until every feed was asked once), and a stop: SIGTERM once ``--stop-after`` feeds were asked
(default: after the first round), how long the daemon took to exit, its exit status, the log's
size, its tracebacks and ``CancelledError`` lines, and what it said about the polls in flight.

    .venv/bin/python benchmarks/daemon_scale.py --channels 10000 [--hosts 10000] \\
        [--stop-after 3000] [--code ../main]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def feed(i: int, now: datetime) -> bytes:
    items = "".join(
        f"<item><title>n{i}-{k}</title><guid>{i}-{k}</guid>"
        f"<pubDate>{format_datetime(now - timedelta(days=3 * k + i % 3))}</pubDate></item>"
        for k in range(10)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>feed {i}'
        f"</title><link>http://example.invalid/{i}</link>{items}</channel></rss>"
    ).encode()


class Feeds:
    """Feed ``i`` at ``/f/i.xml`` on every port; counts the requests as they arrive."""

    def __init__(self, channels: int, hosts: int, latency: float) -> None:
        now = datetime.now(UTC)
        self.bodies = [feed(i, now) for i in range(channels)]
        self.hosts, self.latency = hosts, latency
        self.asked = 0
        self.ports: list[int] = []
        self._ready = threading.Event()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                line, *headers = head.split("\r\n")
                self.asked += 1
                await asyncio.sleep(self.latency)
                i = int(line.split(" ")[1].rsplit("/", 1)[1].split(".")[0])
                etag = f'"v1-{i}"'
                if any(h.lower() == f"if-none-match: {etag}".lower() for h in headers):
                    writer.write(f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode())
                else:
                    body = self.bodies[i]
                    writer.write(
                        f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: {etag}"
                        f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _serve(self) -> None:
        servers = [
            await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
            for _ in range(self.hosts)
        ]
        self.ports = [s.sockets[0].getsockname()[1] for s in servers]
        self._ready.set()
        await asyncio.Event().wait()

    def start(self) -> None:
        threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True).start()
        self._ready.wait(120)

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i % self.hosts]}/f/{i}.xml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
            return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, help="default: one per channel")
    parser.add_argument("--interval", default="120s")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--stop-after", type=int, help="SIGTERM once this many feeds were asked")
    parser.add_argument("--limit", type=float, default=900, help="seconds the first round may take")
    parser.add_argument("--code", type=Path, default=ROOT, help="the source tree to run")
    args = parser.parse_args()
    feeds = Feeds(args.channels, args.hosts or args.channels, args.latency)
    feeds.start()
    work = Path(tempfile.mkdtemp(prefix="cm-scale-"))
    port = free_port()
    orgs = "".join(
        f'[[organisation]]\nname = "Org {i}"\nrss = "{feeds.url(i)}"\n'
        for i in range(args.channels)
    )
    config = work / "config.toml"
    config.write_text(
        f'[monitor]\ndatabase = "sqlite:///{work}/db.sqlite"\nlisten = "127.0.0.1:{port}"\n'
        f'poll_interval = "{args.interval}"\njitter = "1s"\n\n{orgs}'
    )
    log = work / "daemon.log"
    env = {**os.environ, "PYTHONPATH": str(args.code.resolve())}
    started = time.monotonic()
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=work,
            env=env,
        )
    try:
        while not healthy(port):
            if daemon.poll() is not None or time.monotonic() - started > 300:
                sys.exit(f"the daemon did not come up; see {log}")
            time.sleep(0.2)
        up = time.monotonic()
        print(f"{args.channels} channels on {feeds.hosts} hosts, code {args.code.resolve()}")
        print(f"start: {up - started:.1f} s")
        target = args.stop_after or args.channels
        while feeds.asked < target and time.monotonic() - up < args.limit:
            time.sleep(0.05)
        if args.stop_after is None:
            if feeds.asked >= args.channels:
                print(f"first round: {time.monotonic() - up:.1f} s")
            else:
                print(f"first round: not over after {args.limit:.0f} s ({feeds.asked} asked)")
        else:
            print(f"{feeds.asked} feeds asked after {time.monotonic() - up:.1f} s: SIGTERM")
        stop = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        try:
            status: int | str = daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
            status = "killed after 60 s"
        text = log.read_text(errors="replace")
        said = [line for line in text.splitlines() if re.search(r"abandoned|stopp", line)]
        print(
            f"stop: {time.monotonic() - stop:.1f} s, exit status {status}, log "
            f"{log.stat().st_size / 1e6:.2f} MB, {text.count('Traceback')} tracebacks, "
            f"{text.count('CancelledError')} mentions of CancelledError"
        )
        for line in said[-4:]:
            print(f"  {line[:300]}")
    finally:
        if daemon.poll() is None:
            daemon.kill()


if __name__ == "__main__":
    main()
