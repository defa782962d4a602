"""Web load against the real daemon: does readiness and polling hold while clients ask pages?

Starts the fake feed server and ``channel-monitor run`` (a subprocess) with CHANNELS feeds of POSTS
posts each, every one polled every 10 minutes, and one watched feed polled every second that
ignores conditional requests (each poll parses it). After the first read of every feed, CLIENTS
loops ask PATH for SECONDS while a probe asks ``/readyz`` twice a second (6 s timeout, as the
Kubernetes example). It reports the readiness success ratio and latency, the watched feed's
polls, and the pages served. The same load, smaller, is ``tests/e2e/test_web_load.py``.

    .venv/bin/python benchmarks/web_load.py [--channels 200] [--posts 400] [--clients 8]
        [--seconds 20] [--path /api/channels]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.fakes.feeds import FeedServer
from tests.e2e.daemon import Daemon
from tests.e2e.load import Load, config, feeds, under_load


async def measure(args: argparse.Namespace) -> Load:
    specs, watched = feeds(args.channels, args.posts, timedelta(hours=6))
    server = FeedServer(specs)
    base = await server.start()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(config(Path(tmp) / "bench.db", base, args.channels), encoding="utf-8")
        daemon = Daemon(path).start()
        try:
            await daemon.wait_ready(120)

            async def all_read() -> bool:
                return all(c["last_poll_at"] for c in await daemon.channels())

            await daemon.until(all_read, 600, "the first read of every feed")
            return await under_load(
                daemon.base,
                server,
                watched=watched,
                path=args.path,
                clients=args.clients,
                seconds=args.seconds,
            )
        finally:
            daemon.stop()
            await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--posts", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--path", default="/api/channels")
    args = parser.parse_args()
    load = asyncio.run(measure(args))
    waits = load.ready_seconds or [0.0]
    print(
        f"{args.clients} clients on {args.path}, {args.channels} channels × {args.posts} posts, "
        f"{load.seconds:.0f} s:\n"
        f"  /readyz 200: {load.ready.count(200)}/{len(load.ready)} ({load.ready_ok:.0%}), "
        f"median {statistics.median(waits):.2f} s, max {max(waits):.2f} s\n"
        f"  watched feed polled {load.polls} times (due every 1 s)\n"
        f"  pages served: {load.pages} ({load.pages / load.seconds:.1f}/s), "
        f"errors: {load.page_errors}"
    )


if __name__ == "__main__":
    main()
