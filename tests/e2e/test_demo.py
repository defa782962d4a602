"""``channel-monitor demo`` runs with no tokens and no network, and stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.daemon import ROOT, Daemon, free_port

pytestmark = pytest.mark.e2e


async def test_demo_shows_every_platform_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "demo", "--listen", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    demo = Daemon(tmp_path / "unused.toml")
    demo.base, demo.proc, demo.log_path = f"http://127.0.0.1:{port}", proc, tmp_path / "demo.log"
    try:
        await demo.wait_ready()

        async def polled() -> list[dict[str, object]] | None:
            got = await demo.channels()
            return got if all(c["last_poll_at"] for c in got) else None

        channels = await demo.until(polled, 60, "every demo channel to be polled")
        platforms = {c["platform"] for c in channels}
        assert platforms == {
            "rss",
            "youtube",
            "facebook",
            "instagram",
            "linkedin",
            "mastodon",
            "bluesky",
        }
        states = {c["state"] for c in channels}
        assert {"active", "inactive", "dormant", "parked", "unknown"} <= states
        assert any(c["poll_error"] == "auth" for c in channels)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise
        finally:
            log.close()
    assert code == 0, demo.log
