"""Who polls what: the channels fall into shards, and each shard is polled by one daemon.

Two daemons polling the same channel would double the platform's request count (and its
rate-limit troubles) for nothing. A channel's shard is a stable hash of its key (organisation,
platform, handle), the same in every daemon with the same configuration.

On PostgreSQL any number of daemons share one database (``ShardLeases``). A daemon holds a shard
with a session advisory lock, ``pg_try_advisory_lock(ADVISORY_KEY, shard)``, on a connection of
its own: the lock vanishes with the session, so the shards of a daemon that stops, crashes or is
killed are free at once, with no lease to expire. Each daemon writes a heartbeat to the
``replica`` table and counts the live ones (a fresh heartbeat and a session still open), takes
free shards up to its fair share, ceil(shards / live daemons), and lets go of those beyond it
when a new one appears (``monitor.replicas`` waits for their polls in flight first). One daemon,
the first to take the coordinator lock, does what is done once per database: notifications,
the daily pruning and reading the websites.

On SQLite one daemon polls everything (``WholeDatabase``): the first to take an exclusive lock
on a file next to the database holds every shard; the others stand by.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import math
import os
import socket
import threading
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from monitor.records import ChannelKey
from monitor.storage import describe_error

log = logging.getLogger("channel_monitor.leader")

ADVISORY_KEY = 0x43484D4E  # "CHMN": every channel-monitor lock on a database is under this key
SHARDS = 64
"""Shards the channels fall into: fixed, as every daemon on a database must agree on it; enough
for an even share among dozens of daemons, few enough to try them all in a moment."""
COORDINATOR = -1  # the coordinator's lock: (ADVISORY_KEY, COORDINATOR)
STARTUP = -2  # held while a daemon migrates the database and writes its configuration to it
REPLICA_TTL = timedelta(seconds=15)
"""A daemon whose heartbeat is older than this no longer counts (it writes one every 5 s)."""
KEEPALIVE = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}
"""The lock session's TCP keepalives, on the server's side: a daemon whose host vanishes without
closing its connection loses its shards within about 25 s, not the kernel's two hours."""


def shard_of(key: ChannelKey, shards: int = SHARDS) -> int:
    """The shard of the channel with this key: stable across processes, hosts and versions."""
    digest = hashlib.blake2b("\x1f".join(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def fair_share(live: int, shards: int = SHARDS) -> int:
    """How many shards one of ``live`` daemons holds at most: ceil(shards / live)."""
    return math.ceil(shards / max(1, live))


@dataclass(frozen=True, slots=True)
class Standing:
    """What a daemon holds after a check."""

    held: frozenset[int]  # shards locked by this daemon
    extra: frozenset[int]  # of those, the ones beyond its fair share: to let go once drained
    coordinator: bool  # it does the work done once per database
    replicas: int  # live daemons on the database, this one included
    generation: int = 0  # counts lost lock sessions: a new one holds none of the old locks


class Leases(Protocol):
    """The shards this daemon holds, checked and changed from a worker thread."""

    @property
    def shards(self) -> int: ...

    def check(self) -> Standing:
        """Confirm what is held, take free shards up to the fair share, say what is extra."""
        ...

    def release(self, shards: Collection[int], generation: int) -> None:
        """Let go of ``shards`` (held in lock session ``generation``; otherwise already gone)."""
        ...

    def close(self) -> None:
        """Let go of everything (the daemon stops)."""
        ...


class Leadership(Protocol):
    """A lock on the whole database."""

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


class WholeDatabase:
    """Every shard, while this daemon holds a lock on the whole database (SQLite)."""

    def __init__(self, lock: Leadership, shards: int = SHARDS) -> None:
        self.lock = lock
        self._all = frozenset(range(shards))

    @property
    def shards(self) -> int:
        return len(self._all)

    def check(self) -> Standing:
        holds = self.lock.hold()
        return Standing(self._all if holds else frozenset(), frozenset(), holds, 1)

    def release(self, shards: Collection[int], generation: int) -> None:
        return None  # never asked: nothing is ever extra

    def close(self) -> None:
        self.lock.release()


class ShardLeases:
    """Shards held with session advisory locks, shared fairly among the live daemons
    (PostgreSQL). Thread-safe: ``check`` and ``release`` may come from different threads."""

    def __init__(self, engine: Engine, *, shards: int = SHARDS, name: str | None = None) -> None:
        self._engine = engine
        self._shards = shards
        self.id = uuid.uuid4().hex
        self.name = (name or f"{socket.gethostname()}:{os.getpid()}")[:200]
        self._offset = int(self.id[:8], 16) % shards  # daemons start looking at different shards
        self._mutex = threading.Lock()
        self._connection: sa.Connection | None = None
        self._generation = 0
        self._held: set[int] = set()
        self._coordinator = False
        self._refused = False  # an older version holds the database: said once
        self._unreachable = False  # no lock session could be opened: said once

    @property
    def shards(self) -> int:
        return self._shards

    def check(self) -> Standing:
        with self._mutex:
            try:
                connection = self._connect()
            except sa.exc.SQLAlchemyError as exc:  # no lock session: nothing is held
                if not self._unreachable:
                    why = describe_error(exc)
                    log.warning("no lock session, so this daemon polls nothing: %s", why)
                self._unreachable = True
                return Standing(frozenset(), frozenset(), False, 0, self._generation)
            self._unreachable = False
            if connection is None:
                return Standing(frozenset(), frozenset(), False, 0, self._generation)
            try:
                live = self._beat(connection)
                share = fair_share(live, self._shards)
                if len(self._held) < share:
                    self._take(connection, share - len(self._held))
                if not self._coordinator:
                    self._coordinator = self._try(connection, COORDINATOR)
            except sa.exc.SQLAlchemyError:
                if connection.invalidated or connection.closed:  # the session, and its locks, gone
                    self._drop()
                    return Standing(frozenset(), frozenset(), False, 0, self._generation)
                raise
            extra = sorted(self._held)[share:]  # the same ones at every check, until let go
            return Standing(
                frozenset(self._held), frozenset(extra), self._coordinator, live, self._generation
            )

    def release(self, shards: Collection[int], generation: int) -> None:
        with self._mutex:
            if generation != self._generation or self._connection is None:
                return  # that session ended: its locks went with it
            for shard in sorted(set(shards) & self._held):
                self._connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:key, :shard)"),
                    {"key": ADVISORY_KEY, "shard": shard},
                )
                self._held.discard(shard)

    def close(self) -> None:
        with self._mutex:
            if self._connection is not None:
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    self._connection.execute(
                        sa.text("DELETE FROM replica WHERE id = :id"), {"id": self.id}
                    )
            self._drop()

    # -- in the mutex ------------------------------------------------------------------------

    def _connect(self) -> sa.Connection | None:
        """The lock session: confirmed, or opened anew (holding nothing yet); None while an
        older channel-monitor holds the whole database (its single leader lock)."""
        if self._connection is not None:
            try:
                self._connection.execute(sa.text("SELECT 1"))
                return self._connection
            except sa.exc.SQLAlchemyError:
                log.warning(
                    "lost the connection that held %d shard(s): they are free for the others",
                    len(self._held),
                )
                self._drop()
        connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            for setting, seconds in KEEPALIVE.items():  # refused over a Unix socket: harmless
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    connection.execute(
                        sa.text("SELECT set_config(:setting, :seconds, false)"),
                        {"setting": setting, "seconds": str(seconds)},
                    )
            # an older channel-monitor takes this lock exclusively and polls every channel:
            # shared by every daemon that shares the channels, so neither runs beside the other
            shared = connection.execute(
                sa.text("SELECT pg_try_advisory_lock_shared(:key)"), {"key": ADVISORY_KEY}
            ).scalar()
        except sa.exc.SQLAlchemyError:
            connection.close()
            raise
        if not shared:
            connection.close()
            if not self._refused:
                log.warning(
                    "an older channel-monitor polls every channel of this database: this one "
                    "stands by until it stops"
                )
            self._refused = True
            return None
        self._refused = False
        self._connection = connection
        return connection

    def _drop(self) -> None:
        """End the lock session: every lock it held goes with it."""
        connection, self._connection = self._connection, None
        self._held.clear()
        self._coordinator = False
        if connection is not None:
            self._generation += 1  # a release meant for that session must not touch the next
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                connection.invalidate()  # closed, never back to the pool with locks held
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                connection.close()

    def _beat(self, connection: sa.Connection) -> int:
        """Write this daemon's heartbeat, forget daemons that are gone; how many are live.
        Times are the database's clock, the same for every daemon whatever its host's says."""
        params = {"id": self.id, "name": self.name, "ttl": REPLICA_TTL.total_seconds()}
        connection.execute(
            sa.text(
                "DELETE FROM replica WHERE id <> :id AND ("
                "seen_at < timezone('UTC', now()) - make_interval(secs => :ttl) OR NOT EXISTS ("
                "SELECT 1 FROM pg_stat_activity a WHERE a.pid = replica.backend_pid))"
            ),
            params,
        )
        connection.execute(
            sa.text(
                "INSERT INTO replica (id, name, started_at, seen_at, backend_pid) VALUES (:id, "
                ":name, timezone('UTC', now()), timezone('UTC', now()), pg_backend_pid()) ON "
                "CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, backend_pid = "
                "excluded.backend_pid"
            ),
            params,
        )
        return int(connection.execute(sa.text("SELECT count(*) FROM replica")).scalar() or 1)

    def _take(self, connection: sa.Connection, wanted: int) -> None:
        """Lock up to ``wanted`` shards that no daemon holds."""
        taken = {  # locked by some session now: not worth a try
            int(objid)
            for (objid,) in connection.execute(
                sa.text(
                    "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND objsubid = 2 AND classid = CAST(:key AS oid) AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"key": ADVISORY_KEY},
            )
        }
        for step in range(self._shards):
            shard = (self._offset + step) % self._shards
            if wanted <= 0:
                return
            if shard in taken or shard in self._held:
                continue
            if self._try(connection, shard):
                self._held.add(shard)
                wanted -= 1

    @staticmethod
    def _try(connection: sa.Connection, lock: int) -> bool:
        return bool(
            connection.execute(
                sa.text("SELECT pg_try_advisory_lock(:key, :lock)"),
                {"key": ADVISORY_KEY, "lock": lock},
            ).scalar()
        )


@contextlib.contextmanager
def startup_lock(url: str, engine: Engine) -> Iterator[None]:
    """Held while a daemon migrates the database and writes its configuration to it: daemons
    started together on PostgreSQL do that one after the other (a no-op for the later ones)."""
    if make_url(url).get_backend_name() != "postgresql":
        yield
        return
    with engine.connect() as opened:
        connection = opened.execution_options(isolation_level="AUTOCOMMIT")
        params = {"key": ADVISORY_KEY, "lock": STARTUP}
        connection.execute(sa.text("SELECT pg_advisory_lock(:key, :lock)"), params)
        try:
            yield
        finally:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:key, :lock)"), params)


def leases_for(url: str, engine: Engine) -> Leases:
    """How daemons share the database at ``url``."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return ShardLeases(engine)
    if backend == "sqlite":
        database = parsed.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return WholeDatabase(Always())
        return WholeDatabase(
            FileLock(Path(database).expanduser().resolve().with_name(Path(database).name + ".lock"))
        )
    return WholeDatabase(Always())  # other databases: one daemon per store is the operator's word
