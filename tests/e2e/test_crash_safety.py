"""SIGKILL during polls loses no post and duplicates none.

The database's ``UNIQUE(channel_id, post_id)`` cannot catch the duplicates users would see: the
same feed entry stored under a second post id, then counted twice. So the test holds the daemon
to the feeds' ground truth instead: each feed entry (a distinct publication time here) is stored
once, nothing is stored that the feed never served, a successful poll leaves every entry it read
in the database, and what one run recorded survives the next SIGKILL. At the end the counts users
read (``/api/channels`` and ``channel_monitor_recent_posts``) equal the feeds' true counts.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import Daemon, value

pytestmark = pytest.mark.e2e

FEEDS = 24
NOW = datetime.now(UTC).replace(microsecond=0)  # feeds carry whole seconds


def history(feed: int, count: int) -> list[datetime]:
    """Distinct times, newest first; the oldest of 45 is 14 days old, well inside 30 days."""
    return [NOW - timedelta(hours=feed + 7 * i) for i in range(count)]


def stored(db: Path) -> dict[str, list[tuple[str, datetime]]]:
    """(post id, publication time) of every stored row, per feed URL."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute(
            "SELECT channel.handle, post.post_id, post.published_at"
            " FROM post JOIN channel ON channel.id = post.channel_id"
        ).fetchall()
    by_feed: dict[str, list[tuple[str, datetime]]] = {}
    for handle, post_id, published in rows:
        when = datetime.fromisoformat(published).replace(tzinfo=UTC)
        by_feed.setdefault(handle, []).append((post_id, when))
    return by_feed


def polled_since(db: Path, since: datetime) -> set[str]:
    """Feeds with a successful poll that started at or after ``since``."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute(
            "SELECT DISTINCT channel.handle FROM poll JOIN channel ON channel.id = poll.channel_id"
            " WHERE poll.ok AND poll.started_at >= ?",
            (since.replace(tzinfo=None).isoformat(sep=" "),),
        ).fetchall()
    return {handle for (handle,) in rows}


def polls(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            return int(conn.execute("SELECT count(*) FROM poll").fetchone()[0])
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def check_against_truth(
    by_feed: dict[str, list[tuple[str, datetime]]],
    served: dict[str, set[datetime]],
    read_in_full: dict[str, set[datetime]],
) -> None:
    """No entry stored twice or invented; every entry of a recorded poll is there."""
    for url, rows in by_feed.items():
        twice = sorted(t for t, n in Counter(t for _, t in rows).items() if n > 1)
        assert not twice, f"{url}: the same feed entries stored under two post ids: {twice[:3]}"
        invented = {t for _, t in rows} - served[url]
        assert not invented, f"{url}: posts the feed never served: {sorted(invented)[:3]}"
    for url, times in read_in_full.items():
        missing = times - {t for _, t in by_feed.get(url, [])}
        assert not missing, f"{url}: a recorded poll's posts are missing: {sorted(missing)[:3]}"


async def test_sigkill_during_polls_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    server = FeedServer({})
    base = await server.start()
    urls = {i: f"{base}/feed{i}/rss" for i in range(FEEDS)}
    served: dict[str, set[datetime]] = {url: set() for url in urls.values()}  # ever served
    db = tmp_path / "monitor.db"
    config = tmp_path / "config.toml"
    orgs = "\n".join(f'[[organisation]]\nname = "Gemeente {i}"\nrss = "{urls[i]}"\n' for i in urls)
    config.write_text(
        f'[monitor]\ndatabase = "sqlite:///{db}"\npoll_interval = "1s"\njitter = "0s"\n\n{orgs}'
    )
    try:
        before: dict[str, set[tuple[str, datetime]]] = {}
        for round_ in range(3):
            # new posts appear while the daemon polls, so kills land amid real writes
            now_served = {}
            for i, url in urls.items():
                posts = history(i, 30 + 5 * (round_ + 1))
                server.set(f"/feed{i}/rss", FeedSpec(posts=posts, validators=False))
                now_served[url] = set(posts)
                served[url] |= now_served[url]
            round_start = datetime.now(UTC)
            daemon = Daemon(config).start()
            target = polls(db) + 2 * FEEDS
            await daemon.until(lambda t=target: polls(db) >= t, 120, "polls to be recorded")
            daemon.kill()

            by_feed = stored(db)
            # a poll recorded in this round read the whole of this round's feed
            read = {url: now_served[url] for url in polled_since(db, round_start)}
            assert read, "no poll was recorded in this round"
            check_against_truth(by_feed, served, read)
            for url, rows in before.items():
                lost = rows - set(by_feed.get(url, []))
                assert not lost, f"{url}: posts recorded before the SIGKILL were lost: {lost}"
            before = {url: set(rows) for url, rows in by_feed.items()}

        final_start = datetime.now(UTC)
        daemon = Daemon(config).start()
        await daemon.wait_ready(120)

        async def everyone_read_again() -> list[dict[str, object]] | None:
            channels = await daemon.channels()
            fresh = [
                c
                for c in channels
                if c["last_success_at"]
                and datetime.fromisoformat(str(c["last_success_at"])) >= final_start
            ]
            return channels if len(fresh) == FEEDS else None

        channels = await daemon.until(everyone_read_again, 120, "every feed to be read again")
        samples = await daemon.metrics()
        assert daemon.stop() == 0, daemon.log

        by_feed = stored(db)
        check_against_truth(by_feed, served, now_served)
        assert {url: {t for _, t in rows} for url, rows in by_feed.items()} == now_served
        for url, rows in before.items():
            assert rows <= set(by_feed[url]), f"{url}: posts lost"
        # what people read: each post counted once
        truth = {url: len(times) for url, times in now_served.items()}  # 45, all within 30 days
        assert {str(c["channel"]): c["posts_30d"] for c in channels} == truth
        assert {str(c["channel"]): c["posts_90d"] for c in channels} == truth
        for c in channels:
            judged = datetime.fromisoformat(str(c["judged_at"]))
            week = sum(1 for t in now_served[str(c["channel"])] if t > judged - timedelta(days=7))
            assert c["posts_7d"] == week, c
        for url, count in truth.items():
            got = value(samples, "channel_monitor_recent_posts", channel=url, window="30d")
            assert got == count, f"channel_monitor_recent_posts{{channel={url!r}}} = {got}"
    finally:
        await server.stop()
