"""What storing an unchanged poll costs: CPU and wall time per poll, by batch size and by SQLite's
``synchronous`` setting (or on a PostgreSQL given by URL).

Stores rounds of 304 polls (validators only, no posts, no profile: the common case) for N
channels with ``Store.record_polls``, in batches of each size, each batch one transaction as the
daemon's group commit writes it.

    .venv/bin/python benchmarks/store_cost.py [--channels 2000] [--batches 1,2,4,16,64]
        [--database postgresql+psycopg://…/db]   # default: a fresh SQLite file, FULL and NORMAL
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa

from connectors.base import Checkpoint, FetchResult
from monitor.records import PollOutcome
from monitor.settings import ChannelSettings, Policy
from monitor.storage import Store

START = datetime(2026, 12, 1, tzinfo=UTC)


def unchanged(n: int, at: datetime) -> PollOutcome:
    result = FetchResult(not_modified=True, checkpoint=Checkpoint(etag=f'"v1-{n}"'))
    return PollOutcome(started_at=at, finished_at=at, requests=1, result=result)


def measure(store: Store, ids: list[int], batch: int) -> tuple[float, float]:
    """CPU and wall milliseconds per poll, storing one round of every channel."""
    at = START + timedelta(minutes=batch)
    polls = [(c, unchanged(c, at)) for c in ids]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(0, len(polls), batch):
        store.record_polls(polls[i : i + batch])
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return 1000 * cpu / len(polls), 1000 * wall / len(polls)


def run(url: str, label: str, channels: int, batches: list[int], pragma: str | None) -> None:
    store = Store(url)
    if pragma:

        def override(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(pragma)

        sa.event.listen(store.engine, "connect", override)  # after the store's own settings
    store.migrate()
    settings = [
        ChannelSettings("Org", "rss", f"https://{i}.example/rss", Policy(), timedelta(hours=1))
        for i in range(channels)
    ]
    stored = store.sync(["Org"], settings, START)
    ids = [stored[c.key] for c in settings]
    measure(store, ids, max(batches))  # warm up: statements compiled, pages cached
    for batch in batches:
        cpu, wall = measure(store, ids, batch)
        print(f"{label:<24} batch {batch:>3}: {cpu:.3f} ms CPU, {wall:.3f} ms wall per poll")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=2000)
    parser.add_argument("--batches", default="1,2,4,16,64")
    parser.add_argument("--database", help="a PostgreSQL URL (an empty database)")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if args.database:
        run(args.database, "postgresql", args.channels, batches, None)
        return
    for synchronous in ("FULL", "NORMAL"):
        with tempfile.TemporaryDirectory(prefix="store-cost-") as tmp:
            url = f"sqlite:///{tmp}/store.db"
            pragma = f"PRAGMA synchronous={synchronous}"
            run(url, f"sqlite WAL {synchronous}", args.channels, batches, pragma)


if __name__ == "__main__":
    main()
