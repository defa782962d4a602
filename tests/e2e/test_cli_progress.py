"""``check`` on a terminal shows its progress while slow channels are polled; piped, or with
``--format json``, it prints only the result."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import ROOT

pytestmark = pytest.mark.e2e

CHANNELS = 20
DELAY = 0.5  # seconds each feed takes to answer: 20 feeds, 4 at a time, take 2.5 s or more
PROGRESS = re.compile(rb"\b\d{1,2}/20\b")  # "7/20": the progress bar's count
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
NOW = datetime.now(UTC)


def config(tmp_path: Path, base: str) -> Path:
    orgs = "".join(
        f'[[organisation]]\nname = "Gemeente {i:02d}"\nrss = "{base}/feed/{i}"\n'
        for i in range(CHANNELS)
    )
    path = tmp_path / "config.toml"
    path.write_text(f'[monitor]\ndatabase = "sqlite:///{tmp_path}/m.db"\n\n{orgs}')
    return path


async def slow_feeds() -> FeedServer:
    posts = [NOW - timedelta(days=1 + 2 * i) for i in range(20)]
    server = FeedServer({f"/feed/{i}": FeedSpec(posts=posts, delay=DELAY) for i in range(CHANNELS)})
    await server.start()
    return server


def on_a_terminal(*args: str, timeout: float = 60) -> tuple[int, list[tuple[float, bytes]], float]:
    """Run ``python -m monitor ARGS`` with stdout and stderr on a pseudo-terminal: its exit
    status, what it wrote with when it arrived, and when it exited (monotonic seconds)."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    chunks: list[tuple[float, bytes]] = []
    deadline = time.monotonic() + timeout
    exited_at = None
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed its side
                    data = b""
                if data:
                    chunks.append((time.monotonic(), data))
                    continue
            if proc.poll() is not None:
                exited_at = exited_at or time.monotonic()
                if not ready or not data:
                    break
        else:
            raise AssertionError(f"check did not finish in {timeout} s")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        os.close(master)
    return proc.returncode, chunks, exited_at or time.monotonic()


async def test_check_on_a_terminal_shows_progress_before_it_ends(tmp_path: Path) -> None:
    server = await slow_feeds()
    try:
        path = config(tmp_path, server.base_url or "")
        code, chunks, exited_at = await asyncio.to_thread(
            on_a_terminal, "check", "--config", str(path)
        )
    finally:
        await server.stop()
    assert code == 0, b"".join(c for _, c in chunks).decode(errors="replace")
    output = b"".join(c for _, c in chunks)
    first_progress = next((t for t, c in chunks if PROGRESS.search(c)), None)
    assert first_progress is not None, output.decode(errors="replace")
    # progress shows while the polls run, well before the end, and before the table
    assert exited_at - first_progress > 1.0, (exited_at - first_progress, output)
    assert output.index(PROGRESS.search(output).group()) < output.index(b"Gemeente 00")  # type: ignore[union-attr]
    assert b"Gemeente 19" in output


async def test_check_piped_prints_only_the_table(tmp_path: Path) -> None:
    server = await slow_feeds()
    try:
        path = config(tmp_path, server.base_url or "")
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "monitor", "check", "--config", str(path)),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "TERM": "xterm-256color"},
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err
        assert err == b""  # no progress, no warnings
        assert not PROGRESS.search(out) and not ANSI.search(out)
        lines = out.decode().splitlines()
        assert lines[0].startswith("Channel activity")
        assert sum("Gemeente" in line for line in lines) == CHANNELS

        # on a terminal with --format json: the JSON alone, no progress
        code, chunks, _ = await asyncio.to_thread(
            on_a_terminal, "check", "--config", str(path), "--format", "json"
        )
    finally:
        await server.stop()
    assert code == 0
    text = b"".join(c for _, c in chunks).replace(b"\r\n", b"\n")
    assert not PROGRESS.search(text) and not ANSI.search(text)
    assert len(json.loads(text)) == CHANNELS
