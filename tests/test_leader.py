"""One leader per database: the lock is exclusive, free again once released, and gone with its
process.

Each backend's own lock is tested where it exists: the file lock beside a SQLite database, the
advisory lock on PostgreSQL. The other holder is a second process, as a second daemon would be.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.leader import AdvisoryLock, Always, FileLock, Leadership, leadership_for
from monitor.storage import Store

# Another daemon, reduced to its lock: takes the lock for the database URL in argv[1] and then
# obeys one line at a time on stdin ("hold" or "release"), answering each with what it holds.
OTHER_DAEMON = """
import sys
from monitor.leader import leadership_for
from monitor.storage import create_db_engine

url = sys.argv[1]
lock = leadership_for(url, create_db_engine(url))
print("held" if lock.hold() else "refused", flush=True)
for line in sys.stdin:
    if line.strip() == "release":
        lock.release()
        print("released", flush=True)
    else:
        print("held" if lock.hold() else "refused", flush=True)
"""


class OtherDaemon:
    """A second process holding (or asking for) the leader lock of ``url``."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", OTHER_DAEMON, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        self.first = self._answer()  # what it got when it asked at start

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def _answer(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()  # blocks until it answers or exits
        if not line:
            self.proc.wait(30)
            assert self.proc.stderr is not None
            raise AssertionError(f"the other process exited: {self.proc.stderr.read()}")
        return line

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


def admitted_within(lock: Leadership, seconds: float) -> bool:
    """Ask for the lock until it is granted; False only if it never is (a hang)."""
    deadline = time.monotonic() + seconds
    while not lock.hold():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def assert_one_holder_at_a_time(url: str, ours: Leadership) -> None:
    """Two holders: the second refused while the first holds, admitted once it lets go or dies."""
    other = OtherDaemon(url)
    try:
        assert other.first == "held"
        assert not ours.hold(), "admitted while another process holds the lock"
        assert other.ask("hold") == "held"  # holding is idempotent
        assert other.ask("release") == "released"
        assert ours.hold(), "refused after the holder released the lock"
        assert ours.hold()
        assert other.ask("hold") == "refused", "the other process was admitted while we hold"
        ours.release()
        assert other.ask("hold") == "held", "refused after we released the lock"
        assert not ours.hold()
        # a crashed holder's lock goes with its process (the server or the kernel drops it)
        other.crash()
        assert admitted_within(ours, 30), "the lock outlived the process that held it"
        ours.release()
    finally:
        other.close()


def test_a_file_lock_admits_one_holder_at_a_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    lock = leadership_for(url, Store(url).engine)
    assert isinstance(lock, FileLock)  # what a daemon on SQLite takes
    assert_one_holder_at_a_time(url, lock)


def test_two_file_locks_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "m.db.lock"), FileLock(tmp_path / "m.db.lock")
    assert first.hold()
    assert first.hold()  # holding is idempotent
    assert not second.hold()
    first.release()
    assert second.hold()
    assert not first.hold()
    second.release()


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_an_advisory_lock_admits_one_holder_at_a_time(store: Store) -> None:
    lock = leadership_for(store.url, store.engine)
    assert isinstance(lock, AdvisoryLock)  # what a daemon on PostgreSQL takes
    assert_one_holder_at_a_time(store.url, lock)


def test_the_lock_fits_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    lock = leadership_for(url, Store(url).engine)
    assert isinstance(lock, FileLock)
    assert lock.path == tmp_path / "m.db.lock"
    assert isinstance(leadership_for("sqlite://", Store("sqlite://").engine), Always)
