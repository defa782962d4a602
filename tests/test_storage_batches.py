"""Storing polls in batches: a few Core statements per batch, each poll whole, on SQLite and
PostgreSQL (where one is configured)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.base import MOVED_TO, Checkpoint, FetchResult, Post, Profile
from monitor.poll_rows import stored_record
from monitor.records import PollOutcome
from monitor.settings import ChannelSettings, Policy
from monitor.storage import Store
from monitor.writer import PollWriter
from tests.conftest import NOW

LATER = NOW + timedelta(minutes=5)


def channels(n: int) -> list[ChannelSettings]:
    return [
        ChannelSettings("Org", "rss", f"https://{i}.example/rss", Policy(), timedelta(hours=1))
        for i in range(n)
    ]


def ids(store: Store, n: int) -> list[int]:
    settings = channels(n)
    stored = store.sync(["Org"], settings, NOW)
    return [stored[c.key] for c in settings]


def unchanged(at: Any = LATER, etag: str = '"v1"') -> PollOutcome:
    """A 304: nothing new, the validators kept."""
    result = FetchResult(not_modified=True, checkpoint=Checkpoint(etag=etag))
    return PollOutcome(started_at=at, finished_at=at, requests=1, result=result)


def failed(detail: str = "HTTP 503") -> PollOutcome:
    return PollOutcome(LATER, LATER, 1, error_reason="transient", error_detail=detail)


def read(*posts: Post, profile: Profile | None = None) -> PollOutcome:
    checkpoint = Checkpoint(etag='"v2"', extra={MOVED_TO: "https://new.example/rss"})
    result = FetchResult(posts=posts, profile=profile, checkpoint=checkpoint)
    return PollOutcome(LATER, LATER, 2, result=result)


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """The SQL statements the store sends meanwhile (an executemany counts once)."""
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement.split(maxsplit=1)[0].upper())

    sa.event.listen(store.engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", note)


def poll_rows(store: Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        query = "SELECT channel_id, ok, not_modified, new_posts, error_detail FROM poll ORDER BY id"
        return [tuple(row) for row in conn.execute(sa.text(query))]


def test_a_batch_of_unchanged_polls_is_one_update_and_one_insert(store: Store) -> None:
    channel_ids = ids(store, 50)
    with statements(store) as sent:
        assert store.record_polls([(c, unchanged()) for c in channel_ids]) == [0] * 50
    assert [s for s in sent if s in {"SELECT", "UPDATE", "INSERT"}] == ["UPDATE", "INSERT"]
    records = store.channels(channel_ids)
    assert {(r.last_poll_at, r.last_success_at, r.last_poll_ok) for r in records.values()} == {
        (LATER, LATER, True)
    }
    assert store.poll_context(channel_ids[0]).checkpoint == Checkpoint(etag='"v1"')
    assert poll_rows(store) == [(c, True, True, 0, None) for c in channel_ids]


def test_a_mixed_batch_reads_back_as_each_poll_alone_would(store: Store) -> None:
    """Failures, 304s, reads with posts and profiles in one batch: each channel's record is
    what ``stored_record`` keeps in memory, and each poll row says what its poll did."""
    channel_ids = ids(store, 5)
    odd = Profile(name="N" * 600, url="https://u:p@a.example/", followers=2**60, note="n" * 600)
    outcomes = [
        failed("x" * 1500),
        unchanged(),
        read(Post("1", NOW), Post("1", NOW), Post("2", None)),
        read(profile=odd),
        read(Post("3", NOW), profile=Profile(name="", url="javascript:x", followers=7)),
    ]
    before = store.channels(channel_ids)
    assert store.record_polls(list(zip(channel_ids, outcomes, strict=True))) == [0, 0, 2, 0, 1]
    after = store.channels(channel_ids)
    for c, outcome in zip(channel_ids, outcomes, strict=True):
        assert after[c] == stored_record(before[c], outcome)
    assert after[channel_ids[3]].followers is None and after[channel_ids[4]].followers == 7
    assert after[channel_ids[3]].url == "https://a.example/"  # credentials never stored
    assert after[channel_ids[4]].moved_to == "https://new.example/rss"
    rows = poll_rows(store)
    assert [r[:4] for r in rows] == [
        (channel_ids[0], False, False, 0),
        (channel_ids[1], True, True, 0),
        (channel_ids[2], True, False, 2),
        (channel_ids[3], True, False, 0),
        (channel_ids[4], True, False, 1),
    ]
    assert rows[0][4] == "x" * 997 + "…"  # clipped to its column
    assert store.count_posts(channel_ids[2]) == 2


def test_a_profile_keeps_stored_fields_the_platform_left_out(store: Store) -> None:
    [c] = ids(store, 1)
    store.record_poll(c, read(profile=Profile(name="A", url="https://a.example/", followers=3)))
    store.record_poll(c, read(profile=Profile(name=None, url=None, followers=None, note="n")))
    record = store.channels([c])[c]
    assert (record.name, record.url, record.followers, record.profile_note) == (
        "A",
        "https://a.example/",
        3,
        "n",
    )


def test_a_channel_twice_in_one_batch_is_written_in_turn(store: Store) -> None:
    a, b = ids(store, 2)
    first, second = read(Post("1", NOW)), replace(failed(), finished_at=LATER + timedelta(1))
    batch = [(a, first), (b, failed()), (a, read(Post("1", NOW), Post("2", NOW))), (a, second)]
    assert store.record_polls(batch) == [1, 0, 1, 0]
    record = store.channels([a])[a]
    assert (record.last_poll_ok, record.consecutive_failures) == (False, 1)
    assert record.last_poll_at == LATER + timedelta(1) and record.last_success_at == LATER
    assert store.channels([b])[b].consecutive_failures == 1
    assert store.count_posts(a) == 2
    assert [r[3] for r in poll_rows(store)] == [1, 0, 1, 0]


def refused(channel_id: int) -> tuple[int, PollOutcome]:
    """A poll no database takes: its time has no timezone (the column type refuses it)."""
    naive = NOW.replace(tzinfo=None)
    return channel_id, replace(unchanged(), started_at=naive, finished_at=naive)


UNKNOWN_CHANNEL = "unknown channel"  # its status update finds no row
UNKNOWN_WITH_POSTS = "unknown channel, posts"  # refused before its posts are offered
NAIVE_TIME = "naive time"
REFUSALS = [UNKNOWN_CHANNEL, UNKNOWN_WITH_POSTS, NAIVE_TIME]


def bad_poll(kind: str, channel_id: int) -> tuple[int, PollOutcome]:
    if kind == UNKNOWN_CHANNEL:
        return 10_000 + channel_id, unchanged()
    if kind == UNKNOWN_WITH_POSTS:
        return 10_000 + channel_id, read(Post("x", NOW))
    return refused(channel_id)


@pytest.mark.parametrize("kind", REFUSALS)
def test_a_batch_with_a_refused_poll_stores_nothing(store: Store, kind: str) -> None:
    """One transaction: the batch is all or nothing (the writer then stores polls one by one)."""
    a, b, c = ids(store, 3)
    batch = [(a, read(Post("1", NOW))), bad_poll(kind, b), (c, failed())]
    expected = "naive datetime" if kind == NAIVE_TIME else f"no channel with id {10_000 + b}$"
    with pytest.raises(Exception, match=expected):
        store.record_polls(batch)
    assert poll_rows(store) == []
    assert store.count_posts(a) == 0
    assert {r.last_poll_at for r in store.channels([a, b, c]).values()} == {None}


class CountingStore(Store):
    """Records the size of every batch the writer hands it."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.batches: list[int] = []

    def record_polls(self, polls: Sequence[tuple[int, PollOutcome]]) -> list[int]:
        self.batches.append(len(polls))
        return super().record_polls(polls)


@pytest.mark.parametrize("kind", REFUSALS)
async def test_the_writer_stores_the_others_when_one_poll_is_refused(
    store: Store, kind: str
) -> None:
    counting = CountingStore(store.url)
    a, b, c = ids(counting, 3)

    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    writer = PollWriter(counting, db)
    results = await asyncio.gather(
        writer.record(a, read(Post("1", NOW))),
        writer.record(*bad_poll(kind, b)),
        writer.record(c, failed()),
        return_exceptions=True,
    )
    assert results[0] == 1 and results[2] == 0
    assert isinstance(results[1], Exception)
    assert counting.batches == [3, 1, 1, 1]  # shared, refused, then one by one
    assert [(r[0], r[3]) for r in poll_rows(counting)] == [(a, 1), (c, 0)]
    records = counting.channels([a, b, c])
    assert (records[a].last_poll_ok, records[b].last_poll_at, records[c].last_poll_ok) == (
        True,
        None,
        False,
    )
    counting.close()


async def test_a_batch_waits_for_the_polls_still_reading_and_no_longer(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("monitor.writer.WINDOW", 3600)  # only the polls joining end the wait
    counting = CountingStore(store.url)
    a, b, c = ids(counting, 3)
    reading = {b}  # b's platform has not answered yet when a's poll is handed over

    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    writer = PollWriter(counting, db, coming=lambda: len(reading))
    first = asyncio.create_task(writer.record(a, unchanged()))
    for _ in range(5):  # the batch is started, and waits: b may still join it
        await asyncio.sleep(0)
    assert counting.batches == [] and not first.done()

    async def hand_over() -> int:  # as the poller does: b's read is done, then it is stored
        reading.discard(b)
        return await writer.record(b, read(Post("1", NOW)))

    assert await asyncio.wait_for(hand_over(), 30) == 1
    assert await first == 0
    assert counting.batches == [2]  # one commit for both

    alone = writer.record(c, unchanged())  # nothing still reading: written at once
    assert await asyncio.wait_for(alone, 30) == 0
    assert counting.batches == [2, 1]


async def test_a_batch_waits_for_a_slow_read_no_longer_than_the_window(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("monitor.writer.WINDOW", 0.05)
    counting = CountingStore(store.url)
    [a] = ids(counting, 1)

    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    writer = PollWriter(counting, db, coming=lambda: 1)  # some poll is always reading
    assert await asyncio.wait_for(writer.record(a, unchanged()), 30) == 0
    assert counting.batches == [1]
