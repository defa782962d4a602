"""Wall-clock steps, end to end: the real daemon under libfaketime keeps polling a feed server.

libfaketime (Debian package ``faketime``) is preloaded into the daemon only. It reads the offset
from a file on every call (``FAKETIME_TIMESTAMP_FILE`` with ``FAKETIME_NO_CACHE=1``), so the test
steps the daemon's wall clock while it runs; ``FAKETIME_DONT_FAKE_MONOTONIC=1`` leaves the
monotonic clock alone, as a real clock step (NTP, a VM resumed, an operator) does. The feed
server and the test run on the real clock.
"""

from __future__ import annotations

import glob
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import Daemon

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC)
POLLS = 3  # polls to see after each step, one a second
DEADLINE = 20  # seconds for them to come


def libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not found:
        pytest.fail(
            "libfaketime not found; this test needs it (Debian/Ubuntu: `apt-get install -y "
            "faketime`). scripts/test installs it, so this is a failure, not a skip.",
            pytrace=False,
        )
    return found[0]


def faked_env(offset_file: Path) -> dict[str, str]:
    return {
        "LD_PRELOAD": libfaketime(),
        "FAKETIME_TIMESTAMP_FILE": str(offset_file),
        "FAKETIME_NO_CACHE": "1",  # read the offset file on every call
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "NO_FAKE_STAT": "1",  # file times stay real (SQLite, the lock file)
    }


def write_config(tmp_path: Path, base: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[monitor]\ndatabase = "sqlite:///{tmp_path}/m.db"\npoll_interval = "1s"\njitter = "0s"\n'
        f'[[organisation]]\nname = "A"\nrss = "{base}/a"\n',
        encoding="utf-8",
    )
    return config


async def polls_continue(daemon: Daemon, server: FeedServer, what: str) -> None:
    before = len(server.hits)
    await daemon.until(
        lambda: len(server.hits) >= before + POLLS, DEADLINE, f"{POLLS} polls {what}"
    )


async def test_polls_go_on_when_the_wall_clock_steps_back_and_forward(tmp_path: Path) -> None:
    # posts well in the past, so no step below makes one look like it comes from the future
    server = FeedServer({"/a": FeedSpec(posts=[NOW - timedelta(days=d) for d in (3, 5, 9)])})
    base = await server.start()
    offset = tmp_path / "faketime.rc"
    offset.write_text("+0\n")
    daemon = Daemon(write_config(tmp_path, base), env=faked_env(offset)).start()
    try:
        await daemon.wait_ready()
        await polls_continue(daemon, server, "at the start")
        for step, what in (
            ("-1d", "after the clock stepped back a day"),
            ("+0", "after the clock stepped forward again"),
            ("+30d", "after the clock stepped forward 30 days"),
            ("+0", "after the clock stepped back 30 days"),
        ):
            offset.write_text(f"{step}\n")
            await polls_continue(daemon, server, what)
        assert "wall clock stepped" in daemon.log
        health = await daemon.get("/healthz")
        assert health.status_code == 200, health.text
    finally:
        code = daemon.stop()
        await server.stop()
    assert code == 0, daemon.log


async def test_a_restart_polls_when_the_stored_last_poll_is_in_the_future(tmp_path: Path) -> None:
    server = FeedServer({"/a": FeedSpec(posts=[NOW - timedelta(days=d) for d in (3, 5, 9)])})
    base = await server.start()
    offset = tmp_path / "faketime.rc"
    config = write_config(tmp_path, base)
    # polls stored while the clock ran 30 days ahead ...
    offset.write_text("+30d\n")
    daemon = Daemon(config, env=faked_env(offset)).start()
    try:
        await daemon.wait_ready()
        await polls_continue(daemon, server, "while the clock runs 30 days ahead")
    finally:
        daemon.stop()
    # ... are in the future once it is set right: the restarted daemon polls all the same
    offset.write_text("+0\n")
    daemon = Daemon(config, env=faked_env(offset)).start()
    try:
        await daemon.wait_ready()
        await polls_continue(daemon, server, "after a restart with the last poll in the future")
        channels = await daemon.channels()
        assert channels[0]["state"] == "active", channels
    finally:
        code = daemon.stop()
        await server.stop()
    assert code == 0, daemon.log
