"""Poll contexts read in batches: the same as read one channel at a time, in one read for the
polls that ask together."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from connectors.base import Checkpoint, Post
from monitor.contexts import ContextReader
from monitor.models import Channel, Poll
from monitor.models import Post as PostRow
from monitor.records import PollContext, PollOutcome
from monitor.storage import StorageError, Store, _aware
from tests.conftest import NOW
from tests.test_storage import channel, failed, ok


def one_by_one(store: Store, channel_id: int) -> dict[str, Any] | None:
    """The context as it was read before batching (the ORM, one channel, one query at a time),
    field by field."""
    with Session(store.engine) as session:
        row = session.get(Channel, channel_id)
        if row is None:
            return None
        newest = session.exec(
            select(sa.func.max(PostRow.published_at)).where(PostRow.channel_id == channel_id)
        ).one()
        failing_since = None
        if row.consecutive_failures:
            query = select(sa.func.min(Poll.started_at)).where(
                Poll.channel_id == channel_id, col(Poll.ok).is_(False)
            )
            if row.last_success_at is not None:
                query = query.where(col(Poll.started_at) > row.last_success_at)
            failing_since = _aware(session.exec(query).one()) or row.last_poll_at
        fields = row.model_dump(
            include={"last_poll_at", "last_poll_ok", "consecutive_failures", "last_success_at"}
        )
        extra = json.loads(row.checkpoint_extra) if row.checkpoint_extra else {}
        checkpoint = {"etag": row.etag, "last_modified": row.last_modified, "extra": extra}
        return fields | {
            "newest_post_at": _aware(newest),
            "checkpoint": checkpoint,
            "failing_since": failing_since,
        }


def fields(context: PollContext | None) -> dict[str, Any] | None:
    return None if context is None else asdict(context)


def at(hours: float, outcome: PollOutcome) -> PollOutcome:
    moment = NOW + timedelta(hours=hours)
    return replace(outcome, started_at=moment, finished_at=moment)


def histories(store: Store, count: int) -> list[int]:
    """``count`` channels, each with its own mix: never polled, read with or without posts and
    validators, failing after a success, failing since its first poll, failing with its failed
    polls pruned."""
    settings = [channel(f"Gemeente {i}", f"https://g{i}.example/rss") for i in range(count)]
    ids = store.sync(sorted({c.organisation for c in settings}), settings, NOW)
    channel_ids = [ids[c.key] for c in settings]
    for i, channel_id in enumerate(channel_ids):
        if i % 6 == 3:  # failing, its failed polls pruned: the last poll stands in
            store.record_poll(channel_id, at(-20, ok()))
            store.record_poll(channel_id, at(-19, failed()))
    store.prune_polls(NOW - timedelta(hours=18))  # every poll before, of every channel
    for i, channel_id in enumerate(channel_ids):
        kind = i % 6
        if kind in (0, 3):
            continue  # never polled, or done above
        posts = [Post(f"{i}-{k}", NOW - timedelta(days=k + i % 5)) for k in range(i % 4)]
        checkpoint = Checkpoint(etag=f'"{i}"', extra={"cursor": str(i)} if i % 2 else {})
        if kind == 4:  # failing since its first poll
            store.record_poll(channel_id, at(5, failed()))
            continue
        store.record_poll(channel_id, at(1, ok(*posts, checkpoint=checkpoint)))
        if kind == 2:
            store.record_poll(channel_id, at(0.5, failed()))  # before the success
            store.record_poll(channel_id, at(2, failed()))
            store.record_poll(channel_id, at(3, failed("rate_limited")))
    return channel_ids


def test_a_batch_reads_what_one_by_one_reads(store: Store) -> None:
    ids = histories(store, 24)
    expected = {i: one_by_one(store, i) for i in ids}
    assert any(c is not None and c["failing_since"] for c in expected.values())
    assert any(c is not None and c["newest_post_at"] for c in expected.values())
    contexts = store.poll_contexts([*ids, ids[0], 999_999])  # a repeat and one not held
    assert {i: fields(c) for i, c in contexts.items()} == expected
    assert fields(store.poll_context(ids[5])) == expected[ids[5]]
    with pytest.raises(StorageError, match="no channel with id 999999"):
        store.poll_context(999_999)


def test_more_channels_than_one_query_takes(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("monitor.storage._IN_CHUNK", 5)
    ids = histories(store, 13)
    contexts = store.poll_contexts(ids)
    assert {i: fields(c) for i, c in contexts.items()} == {i: one_by_one(store, i) for i in ids}


class Reads:
    """A database call that records what each ``poll_contexts`` read asked for and holds it
    until the test lets it go."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.asked: list[list[int]] = []
        self.go = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self, fn: Callable[..., Any], ids: Iterable[int]) -> Any:
        self.asked.append(list(ids))
        await self.go.wait()
        if self.fail is not None:
            raise self.fail
        return await asyncio.to_thread(fn, self.asked[-1])


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not predicate():
            await asyncio.sleep(0)


async def test_polls_asking_together_share_one_read(store: Store) -> None:
    a, b, c, d = histories(store, 4)
    reads = Reads(store)
    reader = ContextReader(store, reads)
    first = [asyncio.create_task(reader.read(i)) for i in (a, b, a)]
    await until(lambda: len(reads.asked) == 1)
    later = [asyncio.create_task(reader.read(i)) for i in (c, d, 999_999)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert reads.asked == [[a, b]]  # the later ones wait for the read running
    reads.go.set()
    contexts = await asyncio.gather(*first)
    assert [fields(c) for c in contexts] == [one_by_one(store, i) for i in (a, b, a)]
    got = await asyncio.gather(*later, return_exceptions=True)
    assert reads.asked == [[a, b], [c, d, 999_999]]  # then read together
    assert [fields(g) for g in got[:2]] == [one_by_one(store, c), one_by_one(store, d)]  # type: ignore[arg-type]
    assert isinstance(got[2], StorageError) and "no channel with id 999999" in str(got[2])


async def test_a_failed_read_fails_its_polls_and_the_next_read_is_made(store: Store) -> None:
    a, b = histories(store, 2)
    reads = Reads(store)
    reader = ContextReader(store, reads)
    cancelled = asyncio.create_task(reader.read(a))
    failing = asyncio.create_task(reader.read(a))
    await until(lambda: len(reads.asked) == 1)
    cancelled.cancel()
    reads.fail = sa.exc.OperationalError("SELECT", {}, Exception("database is locked"))
    reads.go.set()
    with pytest.raises(sa.exc.OperationalError):
        await failing
    assert cancelled.cancelled()
    reads.fail = None
    assert fields(await reader.read(b)) == one_by_one(store, b)
