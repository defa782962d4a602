"""``check`` polls now and ``status`` reads the database: both with the contract's exit codes."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import ROOT

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC)
ACTIVE = [NOW - timedelta(days=1 + 3 * i) for i in range(20)]
STALE = [NOW - timedelta(days=40 + 7 * i) for i in range(10)]


async def run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def config(tmp_path: Path, base: str, *paths: str) -> Path:
    orgs = "\n".join(f'[[organisation]]\nname = "Org {p}"\nrss = "{base}{p}"\n' for p in paths)
    path = tmp_path / "config.toml"
    path.write_text(f'[monitor]\ndatabase = "sqlite:///{tmp_path}/m.db"\n\n{orgs}')
    return path


@pytest.mark.parametrize(
    ("paths", "code"),
    [
        (("/active",), 0),  # every channel active
        (("/active", "/stale"), 1),  # a channel is flagged
        (("/active", "/stale", "/gone"), 3),  # a channel could not be read
    ],
)
async def test_check_then_status_exit_codes(
    tmp_path: Path, paths: tuple[str, ...], code: int
) -> None:
    server = FeedServer(
        {
            "/active": FeedSpec(posts=ACTIVE),
            "/stale": FeedSpec(posts=STALE),
            "/gone": FeedSpec(posts=[], status=404),
        }
    )
    base = await server.start()
    try:
        path = config(tmp_path, base, *paths)
        status, out, err = await run("check", "--config", str(path), "--format", "json")
        assert status == code, err
        channels = {c["channel"].removeprefix(base): c for c in json.loads(out)}
        assert set(channels) == set(paths)
        assert channels["/active"]["state"] == "active"
        if "/gone" in channels:
            assert (channels["/gone"]["state"], channels["/gone"]["poll_error"]) == (
                "unknown",
                "not_found",
            )
        polled = len(server.hits)
    finally:
        await server.stop()
    # status reads what check stored, without polling (the server is gone)
    status, out, err = await run("status", "--config", str(path))
    assert status == code, err
    assert "Org /active" in out
    assert "active" in out
    assert len(server.hits) == polled
    status, report, _ = await run("report", "--config", str(path), "--format", "csv")
    assert status == 0
    assert report.splitlines()[0].startswith("organisation,platform,channel,state")
