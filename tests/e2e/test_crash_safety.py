"""SIGKILL during polls loses no post and duplicates none.

The database's ``UNIQUE(channel_id, post_id)`` cannot catch the duplicates users would see: the
same feed entry stored under a second post id, then counted twice. So the test holds the daemon
to the feeds' ground truth instead: each feed entry (a distinct publication time here) is stored
once, nothing is stored that the feed never served, a successful poll leaves every entry it read
in the database, and what one run recorded survives the next SIGKILL. At the end the counts users
read (``/api/channels`` and ``channel_monitor_recent_posts``) equal the feeds' true counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor.fakes.feeds import FeedServer, FeedSpec
from monitor.models import Channel, Poll, Post
from tests.conftest import BACKENDS, POSTGRES_URL, postgres_schema
from tests.e2e.daemon import Daemon, value

pytestmark = pytest.mark.e2e

FEEDS = 24
NOW = datetime.now(UTC).replace(microsecond=0)  # feeds carry whole seconds
CHANNEL, POLL, POST = (t.__table__ for t in (Channel, Poll, Post))  # type: ignore[attr-defined]


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database for the daemon (a SQLite file, or a schema of the test PostgreSQL)."""
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path}/monitor.db")
        yield engine
        engine.dispose()
        return
    assert POSTGRES_URL is not None
    with postgres_schema(POSTGRES_URL) as url:
        engine = sa.create_engine(url)
        yield engine
        engine.dispose()


def history(feed: int, count: int) -> list[datetime]:
    """Distinct times, newest first; the oldest of 45 is 14 days old, well inside 30 days."""
    return [NOW - timedelta(hours=feed + 7 * i) for i in range(count)]


def stored(db: sa.Engine) -> dict[str, list[tuple[str, datetime]]]:
    """(post id, publication time) of every stored row, per feed URL."""
    query = sa.select(CHANNEL.c.handle, POST.c.post_id, POST.c.published_at).join(
        CHANNEL, CHANNEL.c.id == POST.c.channel_id
    )
    with db.connect() as conn:
        rows = conn.execute(query).all()
    by_feed: dict[str, list[tuple[str, datetime]]] = {}
    for handle, post_id, published in rows:
        by_feed.setdefault(handle, []).append((post_id, published))
    return by_feed


def polled_since(db: sa.Engine, since: datetime) -> set[str]:
    """Feeds with a successful poll that started at or after ``since``."""
    query = (
        sa.select(CHANNEL.c.handle)
        .distinct()
        .join(POLL, CHANNEL.c.id == POLL.c.channel_id)
        .where(POLL.c.ok, POLL.c.started_at >= since)
    )
    with db.connect() as conn:
        return set(conn.execute(query).scalars())


def polls(db: sa.Engine) -> int:
    try:
        with db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(POLL)).scalar_one())
    except sa.exc.DBAPIError:  # schema not created yet
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


async def test_sigkill_during_polls_loses_and_duplicates_nothing(
    tmp_path: Path, database: sa.Engine
) -> None:
    server = FeedServer({})
    base = await server.start()
    urls = {i: f"{base}/feed{i}/rss" for i in range(FEEDS)}
    served: dict[str, set[datetime]] = {url: set() for url in urls.values()}  # ever served
    db = database
    address = db.url.render_as_string(hide_password=False)
    config = tmp_path / "config.toml"
    orgs = "\n".join(f'[[organisation]]\nname = "Gemeente {i}"\nrss = "{urls[i]}"\n' for i in urls)
    config.write_text(
        f'[monitor]\ndatabase = "{address}"\npoll_interval = "1s"\njitter = "0s"\n\n{orgs}'
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
