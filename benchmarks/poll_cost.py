"""What one poll costs: requests per unchanged poll, and CPU per poll (fetch, parse, store, judge).

Runs the daemon's own runtime (the real poller, store and connectors) in-process against the fake
platform servers, each in its own process on 127.0.0.1 so that only the daemon's CPU is counted.
Every channel is read once in full, then polled ROUNDS times unchanged. Compare with
../shared/reference/performance-notes.md (a Go prober spends about 1 ms of CPU per HTTP check).

    .venv/bin/python benchmarks/poll_cost.py [--channels 100] [--rounds 10] [--transport httpx]
        [--platforms rss --feed-redirect 301]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx

from connectors.registry import supported_platforms
from monitor.app import Runtime, open_runtime
from monitor.config import load_settings
from monitor.fakes import graph, linkedin

HISTORY = {"every_days": 3, "count": 20, "newest_days_ago": 1}
OWN_IG = "17841400000000000"


def scenario(
    platform: str, n: int, redirect: int | None = None
) -> tuple[str, dict[str, Any], list[str], str]:
    """(fake module, its JSON spec, channel handles, platform section)."""
    if platform == "rss":
        spec: dict[str, Any] = {f"/f{i}": {"posts": HISTORY} for i in range(n)}
        if redirect is None:
            return "feeds", spec, [f"{{base}}/f{i}" for i in range(n)], ""
        # every configured address answers ``redirect`` to where the feed now is
        spec |= {f"/old{i}": {"status": redirect, "redirect": f"/f{i}"} for i in range(n)}
        return "feeds", spec, [f"{{base}}/old{i}" for i in range(n)], ""
    token = f'access_token = "{graph.DEFAULT_TOKEN}"\nbase_url = "{{base}}"'
    if platform == "facebook":
        pages = [
            {"id": str(5000 + i), "username": f"page{i}", "posts": HISTORY, "reels": HISTORY}
            for i in range(n)
        ]
        return "graph", {"pages": pages}, [f"page{i}" for i in range(n)], token
    if platform == "instagram":
        accounts = [{"id": OWN_IG, "username": "own"}] + [
            {"id": str(17841400000001000 + i), "username": f"acct{i}", "media": HISTORY}
            for i in range(n)
        ]
        section = f'{token}\naccount_id = "{OWN_IG}"'
        return "graph", {"accounts": accounts}, [f"acct{i}" for i in range(n)], section
    if platform == "linkedin":
        orgs = [{"id": str(7000 + i), "posts": HISTORY} for i in range(n)]
        section = f'access_token = "{linkedin.DEFAULT_TOKEN}"\nbase_url = "{{base}}"'
        return "linkedin", {"accounts": orgs}, [str(7000 + i) for i in range(n)], section
    if platform == "mastodon":
        accounts = [{"handle": f"@a{i}@social.example", "posts": HISTORY} for i in range(n)]
        spec = {"accounts": accounts, "rate_limit": 10**9}
        return "mastodon", spec, [a["handle"] for a in accounts], 'base_url = "{base}"'
    accounts = [{"handle": f"a{i}.bsky.social", "posts": HISTORY} for i in range(n)]
    spec = {"accounts": accounts, "rate_limit": 10**9}
    return "bluesky", spec, [a["handle"] for a in accounts], 'base_url = "{base}"'


async def measure(
    platform: str,
    n: int,
    rounds: int,
    transport: Callable[[], httpx.AsyncBaseTransport] | None,
    redirect: int | None = None,
) -> tuple[float, float, float]:
    """(requests per unchanged poll, daemon CPU ms per poll, polls per second)."""
    module, spec, handles, section = scenario(platform, n, redirect)
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        server = subprocess.Popen(
            [sys.executable, "-m", f"monitor.fakes.{module}", "--spec", str(spec_file)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert server.stdout is not None
            base = server.stdout.readline().strip()
            orgs = "\n".join(
                f'[[organisation]]\nname = "O{i}"\n{platform} = "{h.format(base=base)}"\n'
                for i, h in enumerate(handles)
            )
            config = Path(tmp) / "config.toml"
            config.write_text(
                f'[monitor]\ndatabase = "sqlite:///{tmp}/bench.db"\n'
                f"[platforms.{platform}]\nconcurrency = 16\n{section.format(base=base)}\n{orgs}"
            )
            settings = load_settings(config, {}, supported=supported_platforms())
            async with open_runtime(settings, transport=transport) as runtime:
                await runtime.poll_all()  # the first, full read
                before = requests(runtime)
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(rounds):
                    await runtime.poll_all()
                    await runtime.snapshot()  # judge every channel, as a scrape would
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                made = requests(runtime) - before
        finally:
            server.terminate()
            server.wait(10)
    polls = n * rounds
    return made / polls, 1000 * cpu / polls, polls / wall


def requests(runtime: Runtime) -> float:
    return sum(
        sample.value
        for metric in runtime.registry.collect()
        if metric.name == "channel_monitor_api_requests"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--platforms", default="rss,facebook,instagram,linkedin,mastodon,bluesky")
    parser.add_argument(
        "--transport",
        choices=("aiohttp", "httpx"),
        default="aiohttp",
        help="aiohttp: the daemon's (aiohttp's pool under httpx); httpx: httpx's own, to compare",
    )
    parser.add_argument(
        "--feed-redirect",
        type=int,
        choices=(301, 302, 307, 308),
        help="rss only: every configured feed address answers this redirect to the feed",
    )
    args = parser.parse_args()
    transport: Callable[[], httpx.AsyncBaseTransport] | None = None
    if args.transport == "httpx":
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)  # as it was set
        transport = functools.partial(httpx.AsyncHTTPTransport, retries=0, limits=limits)
    print(f"{args.channels} channels × {args.rounds} unchanged polls, transport {args.transport}")
    print(f"{'platform':<10} {'requests/poll':>14} {'CPU ms/poll':>12} {'polls/s':>8}")
    for platform in args.platforms.split(","):
        per_poll, cpu_ms, rate = asyncio.run(
            measure(platform, args.channels, args.rounds, transport, args.feed_redirect)
        )
        print(f"{platform:<10} {per_poll:>14.2f} {cpu_ms:>12.2f} {rate:>8.0f}")


if __name__ == "__main__":
    main()
