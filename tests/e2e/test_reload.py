"""SIGHUP reloads the configuration; an invalid one is refused and the daemon carries on."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import Daemon

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC)
POSTS = [NOW - timedelta(days=1 + 3 * i) for i in range(10)]


def write(config: Path, db: Path, base: str, *names: str, extra: str = "") -> None:
    orgs = "\n".join(f'[[organisation]]\nname = "{n}"\nrss = "{base}/{n}"\n' for n in names)
    config.write_text(f'[monitor]\ndatabase = "sqlite:///{db}"\njitter = "0s"\n{extra}\n{orgs}')


async def test_sighup_reloads_a_valid_configuration_and_refuses_a_broken_one(
    tmp_path: Path,
) -> None:
    server = FeedServer({"/a": FeedSpec(posts=POSTS), "/b": FeedSpec(posts=POSTS)})
    base = await server.start()
    config, db = tmp_path / "config.toml", tmp_path / "m.db"
    write(config, db, base, "a")
    daemon = Daemon(config).start()
    try:
        await daemon.wait_ready()

        async def organisations() -> set[str]:
            channels = await daemon.channels()
            return {str(c["organisation"]) for c in channels if c["last_poll_at"]}

        await daemon.until(organisations, 20, "the first channel to be polled")
        write(config, db, base, "a", "b")
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)

        async def both() -> bool:
            try:
                return await organisations() == {"a", "b"}
            except httpx.HTTPError:  # the HTTP server restarts with the new schedule
                return False

        await daemon.until(both, 20, "the added channel to be polled after SIGHUP")

        write(config, db, base, "a", extra='poll_interval = "soon"')
        daemon.proc.send_signal(signal.SIGHUP)
        await daemon.until(lambda: "configuration not reloaded" in daemon.log, 20, "the refusal")
        assert "monitor.poll_interval" in daemon.log
        assert await organisations() == {"a", "b"}  # still running on the last good one
    finally:
        code = daemon.stop()
        await server.stop()
    assert code == 0, daemon.log
