"""One leader per database: the lock is exclusive, and free again once released."""

from __future__ import annotations

from pathlib import Path

from monitor.leader import AdvisoryLock, Always, FileLock, leadership_for
from monitor.storage import Store


def test_a_file_lock_admits_one_holder_at_a_time(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "m.db.lock"), FileLock(tmp_path / "m.db.lock")
    assert first.hold()
    assert first.hold()  # holding is idempotent
    assert not second.hold()
    first.release()
    assert second.hold()
    second.release()


def test_the_lock_fits_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    lock = leadership_for(url, Store(url).engine)
    assert isinstance(lock, FileLock)
    assert lock.path == tmp_path / "m.db.lock"
    assert isinstance(leadership_for("sqlite://", Store("sqlite://").engine), Always)


def test_an_advisory_lock_admits_one_holder_at_a_time(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        assert isinstance(leadership_for(store.url, store.engine), FileLock)
        return
    first, second = AdvisoryLock(store.engine), AdvisoryLock(store.engine)
    assert first.hold()
    assert first.hold()
    assert not second.hold()
    first.release()
    assert second.hold()
    second.release()
