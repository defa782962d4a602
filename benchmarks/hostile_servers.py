"""What hostile servers cost the real daemon: memory for a gzip bomb, feed slots for trickles.

``memory``: one channel (per platform asked) whose server answers a 2 MB gzip body that unpacks to
2 GiB, next to one healthy feed. The daemon runs as its own process; its resident size is read
from ``/proc/<pid>/status`` once it is idle (every channel polled once, the hostile one answered
500), the peak (``VmHWM``, restarted with ``clear_refs``) once the bombed poll has failed.

``slots``: four feeds on one host trickling a byte every half second, and one healthy feed on
another host, polled every ``--interval``; the platform ``timeout`` and the ``poll_timeout`` are
the defaults (30 s, 2 min) scaled by the same factor as the interval is from 30 s. Counts how
often the healthy feed is read in eight intervals: eight when nothing holds it up.

    .venv/bin/python benchmarks/hostile_servers.py memory [--platforms mastodon facebook rss]
        [--unpacked-mib 2048] [--checkout PATH]
    .venv/bin/python benchmarks/hostile_servers.py slots [--interval 6] [--checkout PATH]

``--checkout`` runs the daemon of another source tree (an older commit, to compare).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx

from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.hostile import HostileServer, MiB, gzip_bomb, memory_kb, reset_peak

POSTS = [datetime.now(UTC) - timedelta(days=1 + 3 * i) for i in range(10)]
HEALTHY = "Gemeente Gezond"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Daemon:
    """``python -m monitor run`` from ``checkout``, its log in a file."""

    def __init__(self, checkout: Path, config: Path) -> None:
        self.port = free_port()
        self.log = config.with_suffix(".log")
        env = {
            **os.environ,
            "PYTHONPATH": str(checkout),
            "CHANNEL_MONITOR_LISTEN": f"127.0.0.1:{self.port}",
        }
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--config", str(config)],
                cwd=checkout,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def channels(self) -> dict[str, dict[str, Any]]:
        try:
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{self.port}/api/channels", timeout=5)
        except httpx.HTTPError:
            return {}
        if response.status_code != 200:
            return {}
        return {c["organisation"]: c for c in response.json()}

    async def until(self, what: str, check: Callable[[], Awaitable[Any]], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the daemon exited waiting for {what}:\n{self.log.read_text()}")
            if found := await check():
                return found
            await asyncio.sleep(0.1)
        raise SystemExit(f"timed out waiting for {what}:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def write_config(folder: Path, monitor: str, platforms: str, orgs: dict[str, str]) -> Path:
    body = "\n".join(f'[[organisation]]\nname = "{n}"\n{line}\n' for n, line in orgs.items())
    path = folder / "config.toml"
    path.write_text(
        f'[monitor]\ndatabase = "sqlite:///{folder}/monitor.db"\njitter = "0s"\n{monitor}\n\n'
        f"{platforms}\n\n{body}"
    )
    return path


HOSTILE_CHANNEL = {  # platform: (its section, the channel line); {bad} is the hostile server
    "mastodon": ('[platforms.mastodon]\nbase_url = "{bad}"', 'mastodon = "@nieuws@social.example"'),
    "facebook": (
        '[platforms.facebook]\naccess_token = "EAAbenchmark"\nbase_url = "{bad}"',
        'facebook = "gemeentepagina"',
    ),
    "rss": ("", 'rss = "{bad}/nieuws.xml"'),
}


async def memory(platform: str, bomb: bytes, unpacked_mib: int, checkout: Path) -> None:
    hostile = HostileServer(bomb=bomb, mode="fail")
    feeds = FeedServer({"/gezond/rss": FeedSpec(posts=POSTS)})
    bad, good = await hostile.start(), await feeds.start()
    section, line = HOSTILE_CHANNEL[platform]
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(
            Path(tmp),
            'poll_interval = "2s"',
            section.format(bad=bad),
            {"Gemeente Bom": line.format(bad=bad), HEALTHY: f'rss = "{good}/gezond/rss"'},
        )
        daemon = Daemon(checkout, config)
        try:

            async def idle() -> bool:
                got = await daemon.channels()
                return bool(got) and got["Gemeente Bom"]["poll_error"] == "transient"

            await daemon.until("the hostile channel to fail once", idle, 60)
            await asyncio.sleep(1)  # a moment for the healthy feed's poll to settle too
            pid = daemon.proc.pid
            idle_kb = memory_kb(pid, "VmRSS")
            baseline = idle_kb if reset_peak(pid) else memory_kb(pid, "VmHWM")
            started = time.monotonic()
            hostile.mode = "bomb"

            async def bombed() -> dict[str, Any] | None:
                channel = (await daemon.channels()).get("Gemeente Bom", {})
                failed = channel.get("poll_error") not in (None, "transient")
                return channel if failed else None

            channel = await daemon.until("the bombed poll to fail", bombed, 600)
            seconds = time.monotonic() - started
            peak = memory_kb(pid, "VmHWM")
        finally:
            daemon.stop()
            await hostile.stop()
            await feeds.stop()
    print(
        f"{platform:9} {len(bomb) / 1e6:.1f} MB gzip → {unpacked_mib} MiB: "
        f"idle {idle_kb / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB "
        f"(+{(peak - baseline) / 1024:.0f} MiB), failed {channel['poll_error']} after "
        f"{seconds:.1f} s: {channel['poll_error_detail']}"
    )


async def slots(interval: float, checkout: Path) -> None:
    scale = interval / 30
    hostile = HostileServer(trickle_every=0.5)
    feeds = FeedServer({"/gezond/rss": FeedSpec(posts=POSTS)})
    slow, good = await hostile.start(), await feeds.start()
    trickling = {f"Gemeente Traag {i}": f'rss = "{slow}/trickle/{i}.xml"' for i in range(4)}
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(
            Path(tmp),
            f'poll_interval = "{interval:g}s"\npoll_timeout = "{120 * scale:g}s"',
            f'[platforms.rss]\ntimeout = "{30 * scale:g}s"',  # concurrency: the default 4
            {**trickling, HEALTHY: f'rss = "{good}/gezond/rss"'},
        )
        daemon = Daemon(checkout, config)
        try:
            await daemon.until("the daemon to answer", daemon.channels, 60)
            window = 8 * interval
            await asyncio.sleep(window)  # measuring over a fixed window, not waiting for a state
            polls = sum(1 for h in feeds.hits if h.key == "/gezond/rss")
        finally:
            daemon.stop()
            await hostile.stop()
            await feeds.stop()
    print(
        f"healthy feed polled {polls} times in {window:g} s (interval {interval:g} s; "
        f"timeout {30 * scale:g} s, poll_timeout {120 * scale:g} s); at most "
        f"{hostile.most_in_flight['trickle']} trickling requests at once, "
        f"{hostile.hits['trickle']} in all"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=["memory", "slots"])
    parser.add_argument("--platforms", nargs="+", default=list(HOSTILE_CHANNEL))
    parser.add_argument("--unpacked-mib", type=int, default=2048)
    parser.add_argument("--interval", type=float, default=6.0)
    parser.add_argument("--checkout", type=Path, default=ROOT)
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    if args.scenario == "memory":
        bomb = gzip_bomb(args.unpacked_mib * MiB)
        for platform in args.platforms:
            asyncio.run(memory(platform, bomb, args.unpacked_mib, checkout))
    else:
        asyncio.run(slots(args.interval, checkout))


if __name__ == "__main__":
    main()
