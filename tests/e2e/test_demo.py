"""``channel-monitor demo``: the survey's sample on simulated platforms, no tokens or network.

Its data kept with ``--data`` is what ``report`` reads afterwards: the survey's counts come out
of the daemon's own judgement of what it polled.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.daemon import ROOT, Daemon, cli, free_port

pytestmark = pytest.mark.e2e

DEMO = (sys.executable, "-m", "monitor", "demo")
POLLED_WITHIN = 120  # seconds for all 124 channels' first polls (about 30 s on a quiet machine)


async def test_demo_reproduces_the_survey_and_keeps_its_data(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    port = free_port()
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [*DEMO, "--listen", f"127.0.0.1:{port}", "--data", str(data)],
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

        channels = await demo.until(polled, POLLED_WITHIN, "every demo channel to be polled")
        assert len(channels) == 124
        assert {c["platform"] for c in channels} == {
            *("rss", "youtube", "facebook", "instagram", "linkedin", "mastodon", "bluesky"),
        }
        states = {c["state"] for c in channels}
        assert {"active", "below_target", "quiet", "inactive", "dormant"} <= states
        assert {"never_posted", "parked", "unknown"} <= states
        (expired,) = [c for c in channels if c["poll_error"]]  # the one expired token
        assert (expired["platform"], expired["poll_error"], expired["state"]) == (
            "facebook",
            "auth",
            "unknown",  # a channel that cannot be read is never called inactive
        )

        # the banner came once the page answered, with the commands that read the kept data
        banner = await demo.until(lambda: "Ctrl-C" in demo.log and demo.log, 10, "the banner")
        assert f"status page:    http://127.0.0.1:{port}/" in banner
        assert f"channel-monitor report --config {data / 'demo.toml'}" in banner
        assert "simulated" in banner
        # notifications reach the demo's receiver and show on its page
        receiver = re.search(r"notifications:\s+(http://127\.0\.0\.1:\d+/)", banner)
        assert receiver is not None

        async def notified() -> str | None:
            async with httpx.AsyncClient() as client:
                page = (await client.get(receiver.group(1), timeout=5)).text
            return page if "need" in page and "attention" in page else None

        page = await demo.until(notified, 60, "a notification on the receiver's page")
        assert "Simulated data" in page
        assert "notification: " in demo.log
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

    # the kept database, read by report: the survey's counts from the daemon's judgement
    result = cli("report", "--config", str(data / "demo.toml"), "--format", "md")
    assert result.returncode == 0, result.stderr
    report = result.stdout
    assert "Simulated data" in report
    assert "- 6 of 20 Instagram channels not kept up (30%)" in report
    assert "- 5 of 25 LinkedIn channels not kept up (20%)" in report
    assert "| Facebook | 33 |" in report  # organisations with a channel there
    assert "| Instagram | 20 |" in report
    assert "| LinkedIn | 25 |" in report
    assert "| RSS | 33 |" in report  # websites
    status = cli("status", "--config", str(data / "demo.toml"))
    assert status.returncode == 3, status.stderr  # one channel cannot be read (its token)
    assert status.stdout.startswith("Channel activity (simulated data)")


def test_demo_refuses_a_busy_port_before_printing_its_address(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("demo", "--listen", f"127.0.0.1:{port}", "--data", str(tmp_path), timeout=30)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "status page" not in result.stdout and "http://" not in result.stdout
    assert "Traceback" not in result.stderr


def test_demo_keeps_away_from_a_directory_that_is_not_its_own(tmp_path: Path) -> None:
    (tmp_path / "demo.toml").write_text('[monitor]\ndatabase = "sqlite:///real.db"\n')
    (tmp_path / "demo.db").write_text("someone's data")
    result = cli("demo", "--listen", f"127.0.0.1:{free_port()}", "--data", str(tmp_path))
    assert result.returncode == 2
    assert "is not the demo's configuration" in result.stderr
    assert (tmp_path / "demo.db").read_text() == "someone's data"
