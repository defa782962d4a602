"""A full disk, end to end: the daemon's database on a small tmpfs that fills up.

Polls that cannot be recorded are failed polls (reason ``storage``), ``/readyz`` says not ready,
the store metric says so, no channel drifts to ``inactive`` on silence we failed to record, and
all recovers once there is room again.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import Daemon

pytestmark = pytest.mark.e2e


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        # CI runs as root and mounts; elsewhere say plainly why this test did not run
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); run as root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


async def test_a_full_disk_is_a_failing_store_not_an_inactive_channel(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    now = datetime.now(UTC)
    posts = [now - timedelta(minutes=5 + 60 * i) for i in range(30)]
    server = FeedServer({"/nieuws/rss": FeedSpec(posts=posts)})
    base = await server.start()
    with tmpfs(tmp_path / "data", "2m") as data:
        config = tmp_path / "config.toml"
        config.write_text(
            f"""
[monitor]
database = "sqlite:///{data}/monitor.db"
poll_interval = "2s"
jitter = "0s"

[policy]
inactive_after = "62m"

[[organisation]]
name = "Gemeente Vol"
rss = "{base}/nieuws/rss"
"""
        )
        daemon = Daemon(config).start()
        try:
            await daemon.wait_ready()

            async def state() -> dict[str, object]:
                [channel] = await daemon.channels()
                return channel

            async def recorded() -> bool:
                return (await state())["poll_ok"] is True

            await daemon.until(recorded, 30, "the first poll to be recorded")
            # fill the disk, then let the feed post something new so a poll has rows to write
            filler = data / "filler"
            with filler.open("wb") as out, contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * 65536)
            server.set("/nieuws/rss", FeedSpec(posts=[datetime.now(UTC), *posts]))

            async def storage_failing() -> dict[str, object] | None:
                channel = await state()
                return channel if channel["poll_error"] == "storage" else None

            failing = await daemon.until(storage_failing, 60, "a poll the store refuses")
            assert failing["poll_ok"] is False
            assert failing["state"] == "active" and failing["stale"] is True
            assert (await daemon.get("/readyz")).status_code == 503
            assert await daemon.metrics_value("channel_monitor_store_write_ok") == 0
            assert await daemon.metrics_value(
                "channel_monitor_poll_errors_total", platform="rss", reason="storage"
            )
            assert "database or disk is full" in daemon.log

            filler.unlink()  # room again: the next poll records, and all is well

            async def recovered() -> bool:
                channel = await state()
                return channel["poll_ok"] is True and channel["stale"] is False

            await daemon.until(recovered, 120, "the store to take polls again")
            assert (await daemon.get("/readyz")).status_code == 200
            assert await daemon.metrics_value("channel_monitor_store_write_ok") == 1
            assert (await state())["state"] == "active"
        finally:
            assert daemon.stop() == 0
            await server.stop()
