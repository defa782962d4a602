"""SIGHUP reloads the configuration; an invalid one is refused and the daemon carries on."""

from __future__ import annotations

import signal
import socket
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


async def polls_go_on(daemon: Daemon, server: FeedServer, what: str) -> None:
    before = len(server.hits)
    await daemon.until(lambda: len(server.hits) >= before + 3, 20, f"3 more polls {what}")


async def test_sighup_with_a_taken_port_keeps_the_last_good_configuration(
    tmp_path: Path,
) -> None:
    server = FeedServer({"/a": FeedSpec(posts=POSTS)})
    base = await server.start()
    config, db = tmp_path / "config.toml", tmp_path / "m.db"
    daemon = Daemon(config)
    daemon.env.pop("CHANNEL_MONITOR_LISTEN")  # the file says where to listen, and may change
    listen = f'poll_interval = "1s"\nlisten = "127.0.0.1:{daemon.port}"'
    write(config, db, base, "a", extra=listen)
    holder = socket.create_server(("127.0.0.1", 0))  # another process's port
    taken = holder.getsockname()[1]
    daemon.start()
    try:
        await daemon.wait_ready()
        await polls_go_on(daemon, server, "at the start")
        write(config, db, base, "a", extra=f'poll_interval = "1s"\nlisten = "127.0.0.1:{taken}"')
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        await daemon.until(lambda: "configuration not reloaded" in daemon.log, 20, "the refusal")
        refusal = next(line for line in daemon.log.splitlines() if "not reloaded" in line)
        assert f"127.0.0.1:{taken}" in refusal, refusal
        assert "in use" in refusal, refusal
        assert "Traceback" not in daemon.log
        assert (await daemon.get("/metrics")).status_code == 200  # the old port still answers
        await polls_go_on(daemon, server, "on the last good configuration")

        holder.close()  # the port is free now: the same change is taken
        daemon.proc.send_signal(signal.SIGHUP)
        moved = f"http://127.0.0.1:{taken}"

        async def answers_on_the_new_port() -> bool:
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{moved}/metrics", timeout=2)).status_code == 200
            except httpx.HTTPError:
                return False

        await daemon.until(answers_on_the_new_port, 20, "the daemon on the new port")
        with pytest.raises(httpx.ConnectError):
            await daemon.get("/metrics")  # and no longer on the old one
        await polls_go_on(daemon, server, "after moving to the new port")
    finally:
        holder.close()
        code = daemon.stop()
        await server.stop()
    assert code == 0, daemon.log


async def test_sighup_with_a_database_in_a_missing_directory_keeps_the_last_good_one(
    tmp_path: Path,
) -> None:
    server = FeedServer({"/a": FeedSpec(posts=POSTS)})
    base = await server.start()
    config, db = tmp_path / "config.toml", tmp_path / "m.db"
    write(config, db, base, "a", extra='poll_interval = "1s"')
    daemon = Daemon(config).start()
    elsewhere = tmp_path / "missing" / "m.db"
    try:
        await daemon.wait_ready()
        await polls_go_on(daemon, server, "at the start")
        write(config, elsewhere, base, "a", extra='poll_interval = "1s"')
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        await daemon.until(lambda: "configuration not reloaded" in daemon.log, 20, "the refusal")
        refusal = next(line for line in daemon.log.splitlines() if "not reloaded" in line)
        assert "does not exist" in refusal, refusal
        assert "Traceback" not in daemon.log
        assert (await daemon.get("/metrics")).status_code == 200
        await polls_go_on(daemon, server, "on the last good configuration")
        assert not elsewhere.parent.exists()

        elsewhere.parent.mkdir()  # the directory is there now: the same change is taken
        daemon.proc.send_signal(signal.SIGHUP)

        async def polled_into_the_new_database() -> bool:
            try:
                channels = await daemon.channels()
            except httpx.HTTPError:
                return False
            return elsewhere.exists() and all(c["last_poll_at"] for c in channels)

        await daemon.until(polled_into_the_new_database, 20, "polls stored in the new database")
        await polls_go_on(daemon, server, "on the new database")
    finally:
        code = daemon.stop()
        await server.stop()
    assert code == 0, daemon.log
