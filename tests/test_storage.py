"""The store, on SQLite (and PostgreSQL where one is configured)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlmodel import Session, select

import monitor.storage
from connectors.base import Checkpoint, FetchResult, Post, Profile
from monitor.models import Channel as ChannelRow
from monitor.poll_rows import POST_ID_MAX, count, fit_id
from monitor.records import PollOutcome, PostTime
from monitor.settings import ChannelSettings, Policy
from monitor.storage import StorageError, Store
from tests.conftest import NOW


def channel(org: str = "Gemeente A", handle: str = "https://a.example/rss") -> ChannelSettings:
    return ChannelSettings(org, "rss", handle, Policy(), timedelta(hours=6))


def ok(*posts: Post, checkpoint: Checkpoint | None = None) -> PollOutcome:
    result = FetchResult(
        posts=posts,
        profile=Profile(name="A", url="https://a.example"),
        checkpoint=checkpoint or Checkpoint(),
    )
    return PollOutcome(started_at=NOW, finished_at=NOW, requests=1, result=result)


def failed(reason: str = "transient") -> PollOutcome:
    return PollOutcome(
        NOW, NOW, 1, error_reason=reason, error_detail="HTTP 503 from https://a.example/rss"
    )


def test_migrate_is_idempotent_and_records_the_revision(store: Store) -> None:
    store.migrate()
    head = ScriptDirectory(
        str(Path(monitor.storage.__file__).with_name("migrations"))
    ).get_current_head()
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == head


def test_sync_adds_retires_and_reinstates_channels_keeping_history(store: Store) -> None:
    a, b = channel(), channel("Gemeente B", "https://b.example/rss")
    ids = store.sync(["Gemeente A", "Gemeente B"], [a, b], NOW)
    store.record_poll(ids[a.key], ok(Post("1", NOW - timedelta(days=1))))

    assert store.sync(["Gemeente B"], [b], NOW) == {b.key: ids[b.key]}
    again = store.sync(["Gemeente A", "Gemeente B"], [a, b], NOW)
    assert again[a.key] == ids[a.key]
    assert store.count_posts(ids[a.key]) == 1


def test_posts_are_unique_per_channel_and_counted_once(store: Store) -> None:
    ids = store.sync(["Gemeente A"], [channel()], NOW)
    cid = ids[channel().key]
    posts = (Post("1", NOW - timedelta(days=2)), Post("2", NOW - timedelta(days=1)), Post("2", NOW))
    assert store.record_poll(cid, ok(*posts)) == 2
    assert store.record_poll(cid, ok(*posts, Post("3", None))) == 1
    assert store.count_posts(cid) == 3


def test_undated_posts_are_stored_but_not_timed(store: Store) -> None:
    cid = store.sync(["Gemeente A"], [channel()], NOW)[channel().key]
    store.record_poll(cid, ok(Post("undated", None), Post("dated", NOW - timedelta(hours=1))))
    times = store.post_times([cid], since=NOW - timedelta(days=90), newest=10)[cid]
    assert [t.published_at for t in times] == [NOW - timedelta(hours=1)]
    assert store.count_posts(cid) == 2


def test_times_come_back_timezone_aware_utc(store: Store) -> None:
    cid = store.sync(["Gemeente A"], [channel()], NOW)[channel().key]
    store.record_poll(cid, ok(Post("1", NOW - timedelta(days=3))))
    context = store.poll_context(cid)
    assert context.newest_post_at == NOW - timedelta(days=3)
    assert context.newest_post_at is not None and context.newest_post_at.utcoffset() == timedelta(0)
    record = store.channels([cid])[cid]
    assert record.last_success_at == NOW


def test_checkpoint_round_trips_and_survives_failures(store: Store) -> None:
    cid = store.sync(["Gemeente A"], [channel()], NOW)[channel().key]
    checkpoint = Checkpoint(
        etag='W/"abc"', last_modified="Wed, 25 Nov 2026 10:00:00 GMT", extra={"n": "3"}
    )
    store.record_poll(cid, ok(checkpoint=checkpoint))
    store.record_poll(cid, failed())
    assert store.poll_context(cid).checkpoint == checkpoint


def test_failures_count_up_and_success_resets(store: Store) -> None:
    cid = store.sync(["Gemeente A"], [channel()], NOW)[channel().key]
    store.record_poll(cid, failed("auth"))
    store.record_poll(cid, failed("auth"))
    record = store.channels([cid])[cid]
    assert (record.last_poll_ok, record.consecutive_failures, record.last_error_reason) == (
        False,
        2,
        "auth",
    )
    assert record.last_success_at is None
    store.record_poll(cid, ok())
    record = store.channels([cid])[cid]
    assert (record.last_poll_ok, record.consecutive_failures, record.last_error_reason) == (
        True,
        0,
        None,
    )
    polls = store.recent_polls(cid)
    assert [p.ok for p in polls].count(False) == 2 and len(polls) == 3


def test_post_times_returns_the_window_plus_the_newest_of_each_kind(store: Store) -> None:
    cid = store.sync(["Gemeente A"], [channel()], NOW)[channel().key]
    old = [Post(f"old{i}", NOW - timedelta(days=200 + i)) for i in range(10)]
    recent = [Post(f"new{i}", NOW - timedelta(days=i)) for i in range(5)]
    reposts = [Post(f"rp{i}", NOW - timedelta(days=300 + i), kind="repost") for i in range(3)]
    store.record_poll(cid, ok(*old, *recent, *reposts))
    times = store.post_times([cid], since=NOW - timedelta(days=90), newest=7)[cid]
    kinds = [t.kind for t in times]
    assert kinds.count("post") == 7  # 5 in the window are among the newest 7
    assert kinds.count("repost") == 3
    times = store.post_times([cid], since=NOW - timedelta(days=90), newest=2)[cid]
    assert sum(t.kind == "post" for t in times) == 5


def test_prune_polls_keeps_posts(store: Store) -> None:
    cid = store.sync(["Gemeente A"], [channel()], NOW)[channel().key]
    store.record_poll(cid, ok(Post("1", NOW)))
    assert store.prune_polls(NOW + timedelta(seconds=1)) == 1
    assert store.count_posts(cid) == 1


def test_values_longer_than_their_columns_are_fitted(store: Store) -> None:
    cid = store.sync(["Gemeente A"], [channel()], NOW)[channel().key]
    long_id = "https://a.example/nieuws?" + "utm=x&" * 200
    result = FetchResult(
        posts=(Post(long_id, NOW), Post(long_id, NOW)),
        profile=Profile(name="N" * 900, url="javascript:alert(1)"),
        checkpoint=Checkpoint(etag='"' + "e" * 600 + '"', last_modified="x" * 200),
    )
    outcome = PollOutcome(started_at=NOW, finished_at=NOW, requests=1, result=result)
    assert store.record_poll(cid, outcome) == 1
    assert store.record_poll(cid, outcome) == 0  # the digest is stable: stored once
    record = store.channels([cid])[cid]
    assert record.name is not None and len(record.name) <= 500
    assert record.url is None  # not a web address
    assert store.poll_context(cid).checkpoint.etag is None


def test_a_profile_address_is_stored_without_credentials(store: Store) -> None:
    # feedparser resolves a feed's relative <link> against the address it was read from,
    # user:password@ included
    cid = store.sync(["Gemeente A"], [channel()], NOW)[channel().key]
    profile = Profile(name="A", url="https://feeds:hunter2@intranet.example/nieuws")
    store.record_poll(cid, PollOutcome(NOW, NOW, 1, result=FetchResult(profile=profile)))
    assert store.channels([cid])[cid].url == "https://intranet.example/nieuws"


def test_retired_channels_are_marked_and_reinstated(store: Store) -> None:
    a, b = channel(), channel("Gemeente B", "https://b.example/rss")
    ids = store.sync(["Gemeente A", "Gemeente B"], [a, b], NOW)
    later = NOW + timedelta(days=1)
    store.sync(["Gemeente B"], [b], later)
    with Session(store.engine) as session:
        rows = {row.id: row for row in session.exec(select(ChannelRow)).all()}
        assert (rows[ids[a.key]].configured, rows[ids[a.key]].removed_at) == (False, later)
        assert (rows[ids[b.key]].configured, rows[ids[b.key]].removed_at) == (True, None)
    store.sync(["Gemeente A", "Gemeente B"], [a, b], later)
    with Session(store.engine) as session:
        row = session.get(ChannelRow, ids[a.key])
        assert row is not None and (row.configured, row.removed_at) == (True, None)


def test_poll_context_starts_from_the_newest_post(store: Store) -> None:
    # not the oldest: a restart would read each channel's whole history again
    cid = store.sync(["Gemeente A"], [channel()], NOW)[channel().key]
    store.record_poll(cid, ok(*(Post(str(d), NOW - timedelta(days=d)) for d in (9, 2, 5))))
    assert store.poll_context(cid).newest_post_at == NOW - timedelta(days=2)


def test_post_times_bounds_are_inclusive(store: Store) -> None:
    cid = store.sync(["Gemeente A"], [channel()], NOW)[channel().key]
    since = NOW - timedelta(days=90)
    posts = [Post("edge", since), Post("before", since - timedelta(microseconds=1))]
    posts += [Post(f"old{i}", since - timedelta(days=10 + i)) for i in range(3)]
    store.record_poll(cid, ok(*posts))
    # the post exactly at ``since`` is in the window; ``newest=2`` is two posts, no more
    times = store.post_times([cid], since=since, newest=0)[cid]
    assert [t.published_at for t in times] == [since]
    times = store.post_times([cid], since=NOW, newest=2)[cid]
    assert sorted(t.published_at for t in times) == [since - timedelta(microseconds=1), since]


def test_prune_polls_keeps_the_poll_at_the_cutoff(store: Store) -> None:
    cid = store.sync(["Gemeente A"], [channel()], NOW)[channel().key]
    store.record_poll(cid, ok())
    assert store.prune_polls(NOW) == 0
    assert len(store.recent_polls(cid)) == 1
    assert store.prune_polls(NOW + timedelta(microseconds=1)) == 1
    assert store.recent_polls(cid) == []


def test_a_post_id_that_just_fits_is_kept_as_it_is() -> None:
    fits = "x" * POST_ID_MAX
    assert fit_id(fits) == fits
    assert fit_id("é" * (POST_ID_MAX // 2)) == "é" * (POST_ID_MAX // 2)  # bytes, not characters
    longer = fit_id(fits + "x")
    assert longer.startswith("sha256:") and len(longer) == len("sha256:") + 64
    assert fit_id("é" * (POST_ID_MAX // 2 + 1)).startswith("sha256:")


def test_failing_since_is_the_first_failure_after_the_last_success(store: Store) -> None:
    a, b = channel(), channel("Gemeente B", "https://b.example/rss")
    ids = store.sync(["Gemeente A", "Gemeente B"], [a, b], NOW)

    def at(hours: int, outcome: PollOutcome) -> PollOutcome:
        moment = NOW + timedelta(hours=hours)
        return replace(outcome, started_at=moment, finished_at=moment)

    store.record_poll(ids[a.key], at(1, failed()))  # before the last success
    store.record_poll(ids[a.key], at(2, ok()))
    assert store.poll_context(ids[a.key]).failing_since is None
    store.record_poll(ids[b.key], at(3, failed()))  # another channel's failure
    store.record_poll(ids[a.key], at(4, failed()))
    store.record_poll(ids[a.key], at(5, failed()))
    context = store.poll_context(ids[a.key])
    assert context.failing_since == NOW + timedelta(hours=4)
    assert (context.last_poll_at, context.last_poll_ok) == (NOW + timedelta(hours=5), False)
    assert (context.consecutive_failures, context.last_success_at) == (2, NOW + timedelta(hours=2))
    with pytest.raises(StorageError, match="no channel with id 999"):
        store.poll_context(999)


def test_post_times_are_per_channel(store: Store) -> None:
    a, b = channel(), channel("Gemeente B", "https://b.example/rss")
    ids = store.sync(["Gemeente A", "Gemeente B"], [a, b], NOW)
    store.record_poll(ids[a.key], ok(Post("a", NOW - timedelta(days=1))))
    store.record_poll(ids[b.key], ok(Post("b", NOW - timedelta(days=2))))
    times = store.post_times([ids[a.key]], since=NOW - timedelta(days=90), newest=10)
    assert dict(times) == {ids[a.key]: [PostTime(NOW - timedelta(days=1), "post")]}


def test_follower_counts_a_column_holds_are_kept() -> None:
    # none and the largest a double holds exactly are real counts; negatives and beyond are not
    assert [count(n) for n in (0, 2**53, 2**53 + 1, -1, None)] == [0, 2**53, None, None, None]
    assert count(True) is None


def test_error_details_are_clipped_to_1000_bytes_on_a_character_boundary(store: Store) -> None:
    cid = store.sync(["Gemeente A"], [channel()], NOW)[channel().key]
    store.record_poll(cid, replace(failed(), error_detail="x" * 1000))
    assert store.channels([cid])[cid].last_error_detail == "x" * 1000
    store.record_poll(cid, replace(failed(), error_detail="x" * 1001))
    assert store.channels([cid])[cid].last_error_detail == "x" * 997 + "…"
    store.record_poll(cid, replace(failed(), error_detail="é" * 600))  # 1200 bytes
    assert store.channels([cid])[cid].last_error_detail == "é" * 498 + "…"
