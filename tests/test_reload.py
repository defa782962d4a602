"""What a reload checks before it switches, and the listening sockets it keeps."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from monitor.config import ConfigError, Problem
from monitor.reload import Listener, Reload, Reloader, StartupError, check_database, prepare
from monitor.settings import MonitorSettings, Policy, Settings


def settings(database: str, listen: str) -> Settings:
    monitor = MonitorSettings(database=database, listen=listen)
    return Settings("config.toml", monitor, Policy(), {}, (), ())


def test_a_taken_port_is_refused_in_one_line() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(StartupError) as refused:
            Listener.open(f"127.0.0.1:{port}")
    assert str(refused.value) == f"cannot listen on 127.0.0.1:{port}: Address already in use"


def test_a_database_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="missing does not exist"):
        check_database(f"sqlite:///{tmp_path}/missing/m.db")
    check_database(f"sqlite:///{tmp_path}/m.db")  # one that can be: created and migrated
    assert (tmp_path / "m.db").is_file()


async def test_only_what_changed_is_opened_again(tmp_path: Path) -> None:
    listener = Listener.open("127.0.0.1:0")
    try:
        running = settings(f"sqlite:///{tmp_path}/m.db", "127.0.0.1:0")
        same = dataclasses.replace(running, organisations=("Gemeente Voorbeeld",))
        assert await prepare(same, running, listener) is listener
        missing = f"sqlite:///{tmp_path}/missing/m.db"
        moved = dataclasses.replace(
            running, monitor=dataclasses.replace(running.monitor, database=missing)
        )
        with pytest.raises(StartupError):
            await prepare(moved, running, listener)
    finally:
        listener.close()


async def test_the_sockets_keep_listening_between_two_servers() -> None:
    listener = Listener.open("127.0.0.1:0")
    port = listener.port
    try:

        async def serve(text: str) -> web.AppRunner:
            async def answer(_: web.Request) -> web.Response:
                return web.Response(text=text)

            app = web.Application()
            app.router.add_get("/", answer)
            runner = web.AppRunner(app)
            await runner.setup()
            for site in listener.sites(runner, None):
                await site.start()
            return runner

        first = await serve("first")
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/")).text == "first"
        await first.cleanup()
        # between two servers a connection is taken into the backlog, not refused
        with socket.create_connection(("127.0.0.1", port), timeout=30) as waiting:
            waiting.sendall(b"GET / HTTP/1.1\r\nHost: monitor\r\nConnection: close\r\n\r\n")
            second = await serve("second")
            try:
                reply = await asyncio.to_thread(read_all, waiting)
            finally:
                await second.cleanup()
        assert reply.startswith(b"HTTP/1.1 200"), reply
        assert reply.endswith(b"second"), reply
    finally:
        listener.close()


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def test_a_sighup_while_starting_is_handled_once_serving(tmp_path: Path) -> None:
    running = settings(f"sqlite:///{tmp_path}/m.db", "127.0.0.1:0")
    fresh = dataclasses.replace(running, organisations=("Gemeente Voorbeeld",))
    reads: list[Settings] = []

    def read() -> Settings:
        reads.append(fresh)
        return fresh

    stop = asyncio.Event()
    reloader = Reloader(read, running, stop)
    reloader.hang_up()
    await asyncio.sleep(0)
    assert reads == []  # not serving yet: nothing to switch from
    listener = Listener.open("127.0.0.1:0")
    try:
        reloader.serving(listener)
        await asyncio.wait_for(stop.wait(), 10)
        assert reloader.result == Reload(fresh, listener)  # same address: same sockets
        assert reads == [fresh]
    finally:
        await reloader.close()
        listener.close()


async def test_an_invalid_configuration_is_logged_and_changes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def read() -> Settings:
        raise ConfigError([Problem("config.toml", "monitor.poll_interval", "not a duration")])

    stop = asyncio.Event()
    running = settings(f"sqlite:///{tmp_path}/m.db", "127.0.0.1:0")
    reloader = Reloader(read, running, stop)
    listener = Listener.open("127.0.0.1:0")
    try:
        reloader.serving(listener)
        reloader.hang_up()
        await asyncio.sleep(0)  # one turn: reading happens before anything is awaited
    finally:
        await reloader.close()
        listener.close()
    assert "configuration not reloaded: config.toml: monitor.poll_interval" in caplog.text
    assert reloader.result is None
    assert not stop.is_set()
