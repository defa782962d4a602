"""SIGTERM in the middle of the first round: a quick, quiet stop that loses nothing.

Three hundred feeds on twenty hosts, all due at once: most answer after a second, and two hosts
trickle a byte at a time and never finish. SIGTERM comes while polls are in flight and most are
still waiting for a slot. The daemon must exit 0 well within Docker's 10 s, log no traceback,
say in one line how many polls finished and how many were abandoned, have stored every poll
whose answer came (and nothing else), and poll the abandoned ones at its next start.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import Daemon
from tests.hostile import HostileServer

pytestmark = pytest.mark.e2e

CHANNELS = 300
HOSTS = 20  # feed hosts; the daemon is set to read two feeds of one host at a time
HUNG = 2  # of them never finish an answer
POSTS = [datetime.now(UTC) - timedelta(days=2 * i + 1) for i in range(5)]
STOP_DEADLINE = 10.0  # seconds: Docker's grace before SIGKILL
LINE = re.compile(
    r"stopped polling: (\d+) polls in flight finished, (\d+) abandoned "
    r"\((\d+) waiting for a slot, (\d+) still running after"
)


def polled(db: Path) -> set[str]:
    """Feeds with a stored poll."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute(
            "SELECT DISTINCT channel.handle FROM poll JOIN channel ON channel.id = poll.channel_id"
        ).fetchall()
    return {handle for (handle,) in rows}


async def stop(daemon: Daemon) -> tuple[int, float]:
    """SIGTERM; the exit status and how long it took (the feed servers answer meanwhile)."""
    assert daemon.proc is not None
    began = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    while daemon.proc.poll() is None:
        if time.monotonic() - began > STOP_DEADLINE:
            daemon.kill()
            pytest.fail(f"still running {STOP_DEADLINE:.0f} s after SIGTERM:\n{daemon.log[-3000:]}")
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - began
    daemon.stop()  # closes the log
    return daemon.proc.returncode, elapsed


def said(log: str) -> tuple[int, int, int, int]:
    """The one line on the polls in flight: finished, abandoned, of those waiting, cut short."""
    assert "Traceback" not in log and "CancelledError" not in log, log[-5000:]
    lines = [line for line in log.splitlines() if "stopped polling" in line]
    assert len(lines) == 1, lines
    found = LINE.search(lines[0])
    assert found is not None, lines[0]
    finished, abandoned, waiting, cut = map(int, found.groups())
    return finished, abandoned, waiting, cut


async def test_sigterm_during_the_first_round(tmp_path: Path) -> None:
    feeds = [FeedServer({}) for _ in range(HOSTS - HUNG)]
    trickles = [HostileServer(mode="trickle") for _ in range(HUNG)]
    bases = [await s.start() for s in feeds] + [await s.start() for s in trickles]
    urls = [f"{bases[i % HOSTS]}/nieuws/{i}.rss" for i in range(CHANNELS)]
    for i in range(CHANNELS):
        if i % HOSTS < len(feeds):
            feeds[i % HOSTS].set(f"/nieuws/{i}.rss", FeedSpec(posts=POSTS, delay=1.0))
    orgs = "".join(
        f'[[organisation]]\nname = "Gemeente {i}"\nrss = "{url}"\n' for i, url in enumerate(urls)
    )
    db = tmp_path / "monitor.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[monitor]\ndatabase = "sqlite:///{db}"\npoll_interval = "1h"\njitter = "1s"\n\n'
        f"[platforms.rss]\nconcurrency = 2\n\n{orgs}"
    )

    def trickling() -> int:
        return sum(t.hits["trickle"] for t in trickles)

    def answered() -> set[str]:
        return {f"{base}{hit.key}" for base, s in zip(bases, feeds, strict=False) for hit in s.hits}

    daemon = Daemon(config).start()
    try:
        await daemon.wait_ready(60)

        def under_way() -> bool:  # the first answers came; the trickling hosts hold their slots
            return len(answered()) >= 10 and trickling() == 2 * HUNG

        await daemon.until(under_way, 60, "the first polls to finish")
        status, took = await stop(daemon)
        assert status == 0, daemon.log[-3000:]
        assert took < STOP_DEADLINE
        finished, abandoned, waiting, cut = said(daemon.log)
        assert cut == 2 * HUNG  # the trickling hosts' polls, after the grace
        assert waiting > 0 and finished > 0 and finished + abandoned <= CHANNELS
        # every answer that came was stored, whole; nothing was stored for an abandoned poll
        assert polled(db) == answered()
        assert trickling() == 2 * HUNG  # none started after SIGTERM

        # the next start polls what was abandoned (the trickling hosts' feeds hang again)
        before = polled(db)
        daemon = Daemon(config).start()
        await daemon.wait_ready(60)
        readable = {u for i, u in enumerate(urls) if i % HOSTS < len(feeds)}

        def all_read() -> bool:
            return polled(db) >= readable

        await daemon.until(all_read, 60, "the abandoned polls to be made")
        assert before < polled(db)
        status, took = await stop(daemon)
        assert status == 0 and took < STOP_DEADLINE
        assert said(daemon.log)[3] == 2 * HUNG
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.kill()
        for server in [*feeds, *trickles]:
            await server.stop()
