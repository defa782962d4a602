"""Who polls what: on PostgreSQL the shards are shared fairly and never held twice, a killed
holder's shards are free at once, and an older daemon that polls everything is never run beside;
on SQLite one daemon holds every shard through a file lock.

The other holder is a second process, as a second daemon would be.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor.leader import (
    ADVISORY_KEY,
    SHARDS,
    Always,
    FileLock,
    ShardLeases,
    WholeDatabase,
    fair_share,
    leases_for,
    shard_of,
)
from monitor.storage import Store, create_db_engine

# Another daemon, reduced to its leases: checks them for the database URL in argv[1], then obeys
# one line at a time on stdin ("check", "release" its extras, or "close"), answering each with
# what it holds: "<held shards, comma-separated>/<extra count>/<coordinator 0|1>/<live daemons>".
OTHER_DAEMON = """
import sys
from monitor.leader import leases_for
from monitor.storage import create_db_engine

url = sys.argv[1]
leases = leases_for(url, create_db_engine(url))

def say(standing):
    held = ",".join(str(s) for s in sorted(standing.held))
    print(f"{held}/{len(standing.extra)}/{int(standing.coordinator)}/{standing.replicas}",
          flush=True)

standing = leases.check()
say(standing)
for line in sys.stdin:
    if line.strip() == "release":
        leases.release(standing.extra, standing.generation)
    elif line.strip() == "close":
        leases.close()
        print("closed", flush=True)
        continue
    standing = leases.check()
    say(standing)
"""


class OtherDaemon:
    """A second process holding (or asking for) the shards of ``url``."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", OTHER_DAEMON, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        self.held, self.extra, self.coordinator, self.live = self._answer()

    def ask(self, command: str) -> set[int]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        self.held, self.extra, self.coordinator, self.live = self._answer()
        return self.held

    def _answer(self) -> tuple[set[int], int, bool, int]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()  # blocks until it answers or exits
        if not line:
            self.proc.wait(30)
            assert self.proc.stderr is not None
            raise AssertionError(f"the other process exited: {self.proc.stderr.read()}")
        held, extra, coordinator, live = line.split("/")
        shards = {int(s) for s in held.split(",") if s}
        return shards, int(extra), coordinator == "1", int(live)

    def stop(self) -> None:
        """Let go of everything, as a daemon that stops does."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("close\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "closed"

    def crash(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


ALL = set(range(SHARDS))


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_two_daemons_share_the_shards_fairly_and_never_hold_one_both(store: Store) -> None:
    ours = leases_for(store.url, store.engine)
    assert isinstance(ours, ShardLeases)  # what a daemon on PostgreSQL takes
    other = OtherDaemon(store.url)
    try:
        assert (other.held, other.coordinator, other.live) == (ALL, True, 1)  # alone: all
        mine = ours.check()
        assert (mine.held, mine.coordinator, mine.replicas) == (frozenset(), False, 2)
        other.ask("check")  # it sees a second daemon: half of its shards are extra
        assert (len(other.held), other.extra, other.live) == (SHARDS, SHARDS // 2, 2)
        other.ask("release")
        assert len(other.held) == SHARDS // 2 and other.extra == 0
        mine = ours.check()
        assert len(mine.held) == SHARDS // 2 and not mine.extra
        assert mine.held.isdisjoint(other.held) and mine.held | other.held == ALL
        assert ours.check().held == mine.held  # holding is idempotent
        assert other.ask("check") == other.held
        ours.close()  # a daemon that stops lets go of everything, its heartbeat too
        assert other.ask("check") == other.held  # its fair share is now all: it takes the rest
        assert other.held == ALL and other.live == 1
    finally:
        other.close()
        ours.close()


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_a_killed_daemons_shards_are_free_at_once(store: Store) -> None:
    ours = ShardLeases(store.engine)
    other = OtherDaemon(store.url)
    try:
        ours.check()
        other.ask("check")  # two daemons: half of its shards are extra
        other.ask("release")
        assert len(ours.check().held) == SHARDS // 2
        other.crash()  # kill -9: its session, its locks and its liveness end with it
        mine = ours.check()  # no lease to expire, no heartbeat to age: the next check
        assert (mine.held, mine.coordinator, mine.replicas) == (frozenset(ALL), True, 1)
    finally:
        other.close()
        ours.close()


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_a_broken_lock_session_is_a_new_generation(store: Store) -> None:
    ours = ShardLeases(store.engine)
    try:
        first = ours.check()
        assert first.held == frozenset(ALL)
        with store.engine.connect() as admin:  # the server ends our lock session
            admin.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND objid = :shard AND objsubid = 2 AND pid <> pg_backend_pid()"
                ),
                {"shard": 0},
            )
        again = ours.check()
        assert again.generation == first.generation + 1  # nothing of the old session is held
        assert again.held == frozenset(ALL)  # free, so taken again, in the new session
        ours.release([0], first.generation)  # an old session's release: nothing to let go
        assert ours.check().held == frozenset(ALL)
    finally:
        ours.close()


def test_a_daemon_that_cannot_reach_the_database_holds_nothing() -> None:
    """No lock session, no shard: it stops polling rather than poll what another may hold."""
    unreachable = create_db_engine("postgresql+psycopg://monitor@127.0.0.1:1/monitor")
    leases = ShardLeases(unreachable)
    standing = leases.check()  # refused at once: nothing listens on port 1
    assert (standing.held, standing.coordinator) == (frozenset(), False)
    assert leases.check().held == frozenset()
    leases.close()


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_an_older_daemon_that_polls_everything_is_never_run_beside(store: Store) -> None:
    """Before shards, one daemon took ``pg_try_advisory_lock(ADVISORY_KEY)`` and polled every
    channel: during a rolling upgrade, old and new never poll side by side."""
    take_old = sa.text("SELECT pg_try_advisory_lock(:key)")
    with store.engine.connect() as old:
        assert old.execute(take_old, {"key": ADVISORY_KEY}).scalar()
        ours = ShardLeases(store.engine)
        try:
            assert ours.check().held == frozenset()  # stands by while the old one polls
            old.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
            assert ours.check().held == frozenset(ALL)
            assert not old.execute(take_old, {"key": ADVISORY_KEY}).scalar()  # and the other way
        finally:
            ours.close()


def test_a_channel_keeps_its_shard_and_shards_are_evenly_filled() -> None:
    # every daemon, host and version must agree: the hash of the key, not Python's hash()
    assert shard_of(("Gemeente A", "rss", "https://a.example/rss")) == 37
    counts = Counter(
        shard_of((f"Org {i}", "rss", f"https://{i}.example/rss")) for i in range(SHARDS * 100)
    )
    assert len(counts) == SHARDS
    assert min(counts.values()) >= 60 and max(counts.values()) <= 140


@pytest.mark.parametrize(
    ("live", "share"), [(0, 64), (1, 64), (2, 32), (3, 22), (5, 13), (64, 1), (100, 1)]
)
def test_a_fair_share_is_the_shards_over_the_daemons_rounded_up(live: int, share: int) -> None:
    assert fair_share(live) == share
    assert fair_share(live) * max(1, live) >= SHARDS  # every shard finds a holder


def test_a_file_lock_admits_one_holder_at_a_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    ours = leases_for(url, Store(url).engine)
    assert isinstance(ours, WholeDatabase) and isinstance(ours.lock, FileLock)  # SQLite's
    other = OtherDaemon(url)
    try:
        assert (other.held, other.coordinator) == (ALL, True)
        assert ours.check().held == frozenset(), "admitted while another process holds the lock"
        assert other.ask("check") == ALL  # holding is idempotent, and nothing is ever extra
        assert other.extra == 0
        other.stop()
        mine = ours.check()
        assert (mine.held, mine.coordinator, mine.extra) == (frozenset(ALL), True, frozenset())
        ours.close()
        other.close()
        other = OtherDaemon(url)
        assert other.held == ALL, "refused after we released the lock"
        assert ours.check().held == frozenset()
        # a crashed holder's lock goes with its process (the kernel drops it)
        other.crash()
        assert ours.check().held == frozenset(ALL), "the lock outlived the process that held it"
    finally:
        other.close()
        ours.close()


def test_two_file_locks_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "m.db.lock"), FileLock(tmp_path / "m.db.lock")
    assert first.hold()
    assert first.hold()  # holding is idempotent
    assert not second.hold()
    first.release()
    assert second.hold()
    assert not first.hold()
    second.release()


def test_the_lock_fits_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    leases = leases_for(url, Store(url).engine)
    assert isinstance(leases, WholeDatabase) and isinstance(leases.lock, FileLock)
    assert leases.lock.path == tmp_path / "m.db.lock"
    memory = leases_for("sqlite://", Store("sqlite://").engine)
    assert isinstance(memory, WholeDatabase) and isinstance(memory.lock, Always)
