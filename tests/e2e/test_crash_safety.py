"""SIGKILL during polls loses no post and duplicates none."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import Daemon

pytestmark = pytest.mark.e2e

FEEDS = 24
NOW = datetime.now(UTC)


def history(feed: int, count: int) -> list[datetime]:
    return [NOW - timedelta(hours=feed + 7 * i) for i in range(count)]


def stored(db: Path) -> tuple[dict[str, set[str]], int, int]:
    """Post ids per feed URL, total rows, and distinct (channel, post) pairs."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute(
            "SELECT channel.handle, post.post_id"
            " FROM post JOIN channel ON channel.id = post.channel_id"
        ).fetchall()
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT channel_id || ' ' || post_id) FROM post"
        ).fetchone()
    by_feed: dict[str, set[str]] = {}
    for handle, post_id in rows:
        by_feed.setdefault(handle, set()).add(post_id)
    return by_feed, total, distinct


def polls(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            return int(conn.execute("SELECT count(*) FROM poll").fetchone()[0])
    except sqlite3.OperationalError:  # schema not created yet
        return 0


async def test_sigkill_during_polls_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    specs = {
        f"/feed{i}/rss": FeedSpec(posts=history(i, 30), validators=False) for i in range(FEEDS)
    }
    server = FeedServer(specs)
    base = await server.start()
    db = tmp_path / "monitor.db"
    config = tmp_path / "config.toml"
    orgs = "\n".join(
        f'[[organisation]]\nname = "Gemeente {i}"\nrss = "{base}/feed{i}/rss"\n'
        for i in range(FEEDS)
    )
    config.write_text(
        f'[monitor]\ndatabase = "sqlite:///{db}"\npoll_interval = "1s"\njitter = "0s"\n\n{orgs}'
    )
    try:
        seen_before: dict[str, set[str]] = {}
        for round_ in range(3):
            # new posts appear while the daemon polls, so kills land amid real writes
            for i in range(FEEDS):
                server.set(
                    f"/feed{i}/rss",
                    FeedSpec(posts=history(i, 30 + 5 * (round_ + 1)), validators=False),
                )
            daemon = Daemon(config).start()
            target = polls(db) + 2 * FEEDS
            await daemon.until(lambda t=target: polls(db) >= t, 60, "polls to be recorded")
            daemon.kill()
            by_feed, total, distinct = stored(db)
            assert total == distinct, "a post was stored twice"
            for handle, ids in seen_before.items():
                assert ids <= by_feed.get(handle, set()), f"posts lost from {handle}"
            seen_before = by_feed

        daemon = Daemon(config).start()
        await daemon.wait_ready()
        expected = {f"{base}/feed{i}/rss": 45 for i in range(FEEDS)}

        def complete() -> bool:
            by_feed, _, _ = stored(db)
            return {h: len(ids) for h, ids in by_feed.items()} == expected

        await daemon.until(complete, 60, "every feed's posts to be stored")
        assert daemon.stop() == 0, daemon.log
        by_feed, total, distinct = stored(db)
        assert total == distinct == FEEDS * 45
        for handle, ids in seen_before.items():
            assert ids <= by_feed[handle]
    finally:
        await server.stop()
