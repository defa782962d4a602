"""One poller per database: other daemons on the same store stand by and serve what it stores.

Two daemons polling the same channels would double every platform's request count (and its
rate-limit troubles) for nothing. The leader holds a lock: on PostgreSQL a session advisory
lock on a connection of its own, on SQLite an exclusive lock on a file next to the database.
Both vanish with the process, so a standby takes over within seconds of a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import IO, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

log = logging.getLogger("channel_monitor.leader")

ADVISORY_KEY = 0x43484D4E  # "CHMN": the lock every channel-monitor on one database takes


class Leadership(Protocol):
    def hold(self) -> bool:
        """Take the lock if free, or confirm it is still held; True while this daemon leads."""
        ...

    def release(self) -> None: ...


class Always:
    """A database only this process can see (``sqlite://`` in memory): always the leader."""

    def hold(self) -> bool:
        return True

    def release(self) -> None:
        return None


class FileLock:
    """An exclusive ``flock`` on ``<database>.lock`` (SQLite: one host, one file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def hold(self) -> bool:
        if self._file is not None:
            return True
        handle = self.path.open("a", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class AdvisoryLock:
    """``pg_try_advisory_lock`` on a connection kept for it (PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: sa.Connection | None = None

    def hold(self) -> bool:
        if self._connection is not None:
            try:  # still connected, so still holding the session lock
                self._connection.execute(sa.text("SELECT 1"))
                return True
            except sa.exc.SQLAlchemyError:
                log.warning("lost the connection that held the leader lock")
                self.release()
        connection = self._engine.connect()
        try:
            held = connection.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            ).scalar()
            connection.commit()
        except sa.exc.SQLAlchemyError:
            connection.close()
            raise
        if held:
            self._connection = connection
            return True
        connection.close()
        return False

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
                )
                self._connection.commit()
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._connection.close()
            self._connection = None


def leadership_for(url: str, engine: Engine) -> Leadership:
    """The lock that fits the database at ``url``."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return AdvisoryLock(engine)
    if backend == "sqlite":
        database = parsed.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return Always()
        return FileLock(
            Path(database).expanduser().resolve().with_name(Path(database).name + ".lock")
        )
    return Always()  # other databases: one daemon per store is the operator's promise
