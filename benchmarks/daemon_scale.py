"""The daemon's first round at scale, and a stop in the middle of it.

N RSS feeds on H hosts (a port on 127.0.0.1 each: the daemon limits feeds per ``host:port``),
served by a small asyncio server in a thread here with LATENCY seconds before each answer and
ETag → 304 Not Modified, as ``daemon_load.py`` (the shared load tool) serves them from one host.
The real daemon (``python -m monitor run``, from the source tree ``--code``, default this one)
polls them every INTERVAL. Reported: the start (until ``/healthz`` answers), the first round
(until every feed was asked once), and a stop: SIGTERM once ``--stop-after`` feeds were asked
(default: after the first round), how long the daemon took to exit, its exit status, the log's
size, its tracebacks and ``CancelledError`` lines, and what it said about the polls in flight.

With ``--rounds R`` the daemon polls on for R intervals after its first round before the stop,
and the run says whether it kept its interval, as seen from the feeds: the gap between two
requests for the same feed (interval + up to ``jitter`` + the poll's own time: more means the
daemon fell behind), its median, 99th percentile and largest; the polls a second and the
daemon's CPU per poll over every round but the first two (all unchanged polls, 304).

With ``--scrape S`` it also scrapes ``/metrics`` every S seconds until the stop, as Prometheus
would, and reports the scrapes' times and size and the daemon's resident memory (peak and last).

    .venv/bin/python benchmarks/daemon_scale.py --channels 10000 [--hosts 10000] \\
        [--stop-after 3000] [--rounds 3 --interval 60s] [--scrape 15] [--code ../main]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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
        self.asked_at: list[list[float]] = [[] for _ in range(channels)]  # monotonic, per feed
        self.ports: list[int] = []
        self._ready = threading.Event()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                line, *headers = head.split("\r\n")
                self.asked += 1
                i = int(line.split(" ")[1].rsplit("/", 1)[1].split(".")[0])
                self.asked_at[i].append(time.monotonic())
                await asyncio.sleep(self.latency)
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


class Scraper:
    """Scrapes ``/metrics`` every ``every`` seconds in a thread, as Prometheus would."""

    def __init__(self, port: int, every: float) -> None:
        self.port, self.every = port, every
        self.times: list[float] = []
        self.at: list[float] = []  # when each scrape began (monotonic)
        self.first_round_over: float | None = None
        self.size = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/metrics", timeout=60
                ) as r:
                    self.size = len(r.read())
            except OSError as exc:
                print(f"scrape failed: {exc}")
                continue
            self.times.append(time.perf_counter() - started)
            self.at.append(time.monotonic())

    def report(self, pid: int) -> None:
        self._stop.set()
        self._thread.join()
        status = Path(f"/proc/{pid}/status").read_text()
        rss = {
            k: int(v.split()[0]) / 1024
            for k, v in (line.split(":", 1) for line in status.splitlines())
            if k in ("VmRSS", "VmHWM")
        }
        times = sorted(self.times) or [0.0]
        print(
            f"/metrics every {self.every:.0f} s: {len(self.times)} scrapes of "
            f"{self.size / 1e6:.0f} MB, "
            f"median {1000 * times[len(times) // 2]:.0f} ms, slowest {1000 * times[-1]:.0f} ms; "
            f"resident memory {rss['VmRSS']:.0f} MB (peak {rss['VmHWM']:.0f} MB)"
        )
        if self.first_round_over is not None:
            over = self.first_round_over
            after = sorted(t for t, at in zip(self.times, self.at, strict=True) if at > over)
            if after:
                print(
                    f"  after the first round: {len(after)} scrapes, median "
                    f"{1000 * after[len(after) // 2]:.0f} ms, slowest {1000 * after[-1]:.0f} ms"
                )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def keep_up(feeds: Feeds, daemon: subprocess.Popen[bytes], interval: float, rounds: int) -> None:
    """Poll on for ``rounds`` intervals after the first round; print how well the interval held."""
    first_done = time.monotonic()
    time.sleep(interval)  # the second round: the first reads' rhythm settles
    asked0, cpu0, t0 = feeds.asked, cpu_seconds(daemon.pid), time.monotonic()
    time.sleep(max(0.0, rounds - 1) * interval)
    asked1, cpu1, t1 = feeds.asked, cpu_seconds(daemon.pid), time.monotonic()
    gaps = sorted(
        b - a
        for times in feeds.asked_at
        for a, b in itertools.pairwise(times)
        if a >= first_done  # unchanged polls: the first reads' own time is left out
    )
    if not gaps:
        print("keeping up: no feed was asked twice")
        return
    polls = asked1 - asked0

    def at(q: float) -> float:
        return gaps[min(len(gaps) - 1, int(q * len(gaps)))]

    print(
        f"keeping up over {rounds} intervals of {interval:.0f} s: gap between polls of a feed "
        f"median {at(0.5):.2f} s, p99 {at(0.99):.2f} s, max {gaps[-1]:.2f} s ({len(gaps)} gaps); "
        f"after the second round {polls / (t1 - t0):.0f} polls/s (the interval needs "
        f"{len(feeds.asked_at) / interval:.0f}), daemon CPU "
        f"{1000 * (cpu1 - cpu0) / max(polls, 1):.2f} ms/poll"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, help="default: one per channel")
    parser.add_argument("--interval", default="120s")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--stop-after", type=int, help="SIGTERM once this many feeds were asked")
    parser.add_argument("--limit", type=float, default=900, help="seconds the first round may take")
    parser.add_argument("--rounds", type=int, default=0, help="intervals to poll on after it")
    parser.add_argument("--scrape", type=float, help="scrape /metrics every this many seconds")
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
        scraper = Scraper(port, args.scrape) if args.scrape else None
        target = args.stop_after or args.channels
        while feeds.asked < target and time.monotonic() - up < args.limit:
            time.sleep(0.05)
        if args.stop_after is None:
            if feeds.asked >= args.channels:
                print(f"first round: {time.monotonic() - up:.1f} s")
                if scraper is not None:
                    scraper.first_round_over = time.monotonic()
                if args.rounds:
                    keep_up(feeds, daemon, seconds(args.interval), args.rounds)
            else:
                print(f"first round: not over after {args.limit:.0f} s ({feeds.asked} asked)")
        else:
            print(f"{feeds.asked} feeds asked after {time.monotonic() - up:.1f} s: SIGTERM")
        if scraper is not None:
            scraper.report(daemon.pid)
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
