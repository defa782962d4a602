"""SIGHUP: read the configuration again, and switch to it only once the daemon can run on it.

A valid configuration can still be unusable: ``listen`` names a port another process holds,
``database`` a directory that does not exist or a server that does not answer. Before the
running daemon stops, the new database is opened (and migrated) and the new address bound; if
either fails, the reload is refused with one log line saying why, and the daemon carries on with
the last good configuration. Everything else in a valid configuration can be applied.

The listening sockets outlive the daemon's restarts: a reload that keeps ``listen`` serves on
the same sockets (connections that come meanwhile wait in the backlog instead of being refused,
and no other process can take the port in between); one that changes it binds the new address
first and closes the old one when it switches.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from ssl import SSLContext

import sqlalchemy as sa
from aiohttp import web

from monitor.config import ConfigError
from monitor.settings import Settings
from monitor.storage import StorageError, Store, describe_error

log = logging.getLogger("channel_monitor")

BACKLOG = 128


class StartupError(Exception):
    """The daemon cannot start; the message says why in one line."""


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104  (an explicit ":9184")


class Listener:
    """The bound, listening sockets for one ``listen`` address (several when a name resolves
    to IPv4 and IPv6), as asyncio's ``create_server`` would bind them."""

    def __init__(self, address: str, sockets: list[socket.socket]) -> None:
        self.address = address
        self._sockets = sockets

    @classmethod
    def open(cls, address: str) -> Listener:
        """Bind ``address`` (blocking: name resolution); StartupError says why it cannot be."""
        host, port = parse_listen(address)
        sockets: list[socket.socket] = []
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            for family, kind, proto, _, where in dict.fromkeys(found):
                sock = socket.socket(family, kind, proto)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:  # as asyncio: one socket per family
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(where)
                sock.listen(BACKLOG)
        except OSError as exc:
            for sock in sockets:
                sock.close()
            raise StartupError(f"cannot listen on {address}: {exc.strerror or exc}") from None
        return cls(address, sockets)

    @property
    def port(self) -> int:
        """The port bound (the one the system chose, for ``host:0``)."""
        return int(self._sockets[0].getsockname()[1])

    def sites(self, runner: web.AppRunner, tls: SSLContext | None) -> list[web.SockSite]:
        """Sites serving on copies of the sockets: stopping a site leaves these listening."""
        return [web.SockSite(runner, sock.dup(), ssl_context=tls) for sock in self._sockets]

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()


def check_database(url: str) -> None:
    """Open and migrate the database at ``url``, as the daemon would; StartupError if it cannot."""
    try:
        store = Store(url)
    except (StorageError, sa.exc.SQLAlchemyError, ImportError) as exc:
        raise StartupError(_database_problem(exc)) from None
    try:
        store.migrate()
    except (StorageError, sa.exc.SQLAlchemyError) as exc:
        raise StartupError(_database_problem(exc)) from None
    finally:
        store.close()


def _database_problem(exc: Exception) -> str:
    return describe_error(exc) if isinstance(exc, sa.exc.SQLAlchemyError) else str(exc)


async def prepare(fresh: Settings, current: Settings, listener: Listener) -> Listener:
    """Check that the daemon can run on ``fresh``; the listener to serve it on.

    Only what changed is checked: the running database and address are known to work.
    """
    if fresh.monitor.database != current.monitor.database:
        await asyncio.to_thread(check_database, fresh.monitor.database)
    if fresh.monitor.listen == listener.address:
        return listener
    return await asyncio.to_thread(Listener.open, fresh.monitor.listen)


@dataclass(frozen=True, slots=True)
class Reload:
    """A configuration the daemon can run on, and the listener to serve it on."""

    settings: Settings
    listener: Listener


class Reloader:
    """The SIGHUP handler: reads and checks the configuration, then asks the daemon to restart.

    The daemon stops (``stop`` is set) only once ``result`` holds a usable configuration. A
    SIGHUP that comes while the daemon starts is handled once it serves.
    """

    def __init__(
        self, read: Callable[[], Settings], current: Settings, stop: asyncio.Event
    ) -> None:
        self._read = read
        self._current = current
        self._stop = stop
        self._listener: Listener | None = None  # set once the daemon serves
        self._again = asyncio.Event()  # a SIGHUP to handle (another may be under way)
        self._task: asyncio.Task[None] | None = None
        self.result: Reload | None = None

    def hang_up(self) -> None:
        """The signal handler."""
        self._again.set()
        self._start()

    def serving(self, listener: Listener) -> None:
        """The daemon serves on ``listener``: SIGHUPs can be handled from now on."""
        self._listener = listener
        self._start()

    def _start(self) -> None:
        if self._listener is None or not self._again.is_set():
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._reload(self._listener))

    async def _reload(self, current: Listener) -> None:
        while self._again.is_set() and not self._stop.is_set():
            self._again.clear()
            try:
                fresh = self._read()
            except ConfigError as exc:
                for problem in exc.problems:
                    log.error("configuration not reloaded: %s", problem)  # noqa: TRY400
                continue
            try:
                listener = await prepare(fresh, self._current, current)
            except StartupError as exc:
                log.error(  # noqa: TRY400  (one line, no traceback: it says what is wrong)
                    "configuration not reloaded: %s; still running on the last good one", exc
                )
                continue
            if self._again.is_set() or self._stop.is_set():  # a newer SIGHUP, or SIGTERM
                if listener is not current:
                    listener.close()
                continue
            self.result = Reload(fresh, listener)
            log.info("configuration reloaded; restarting the schedule")
            self._stop.set()

    async def close(self) -> None:
        """Stop handling a SIGHUP still under way (the daemon is stopping)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
