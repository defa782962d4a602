"""The judgement the daemon serves: each channel judged when something changes, read many times.

Built once from the store (one read of the records, one of the posts), then a channel is judged
again only when its poll lands, when a poll of it could not be stored (or can be again), and at
its deadline: the next moment its view would change with no new poll (``deadlines``). A heap
of deadlines is driven by a task on the event loop. ``/metrics``, ``/api/channels``, the status
page, the CLI and notifications read the judged views and never the database; a read first
settles any deadline already passed, so it is exact even when the timer is late, and fills in
the only figures that move with every tick (the moment judged and the silence).

Channels another daemon polls (another replica on the database holds their shard, or the one
SQLite poller does): ``refresh`` reads again those whose stored poll time moved, at every lease
check. A new configuration (SIGHUP) starts a new runtime, and with it a judgement built afresh
under the new policies.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.judgement.deadlines import PostLog, next_change
from monitor.poll_rows import stored_record
from monitor.records import ChannelKey, ChannelRecord, DbCall, PollOutcome, PostTime, StoreFault
from monitor.settings import ChannelSettings
from monitor.storage import Store
from monitor.views import NEWEST, ChannelView, judge, judged_at, lookback

log = logging.getLogger("channel_monitor.judgement")

MARGIN = timedelta(days=2)
"""Posts are held this much further back than judging needs, so a wall clock stepped back up to
this far is judged from memory; a bigger step has every channel read again from the store."""
LOAD_CHUNK = 5000  # channels per query when building: a database binds only so many ids
CHANGE_LOG = 100_000  # changes remembered for ``changed``: minutes of polls at 10,000 channels
MAX_NAP = 60.0
"""Seconds the deadline timer sleeps at most: a stepped wall clock is noticed within this."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """One channel's judgement and what it was judged from."""

    settings: ChannelSettings
    record: ChannelRecord  # as stored
    fault: StoreFault | None  # polls the store refused, laid over the record when shown
    posts: PostLog
    since: datetime  # posts published before this may be missing (each kind's newest are not)
    view: ChannelView  # judged at ``at``
    at: datetime
    until: datetime | None  # the deadline: the view holds for [at, until)
    behind: bool = False  # a read of its posts failed: read them again at its next poll


def _shown(record: ChannelRecord, fault: StoreFault | None) -> ChannelRecord:
    return fault.over(record) if fault is not None else record


def _basis(record: ChannelRecord) -> tuple[bool, datetime | None]:
    """What of a (shown) record the cadence depends on: ever read, and the moment it is frozen
    at while its polls fail."""
    frozen = record.last_poll_ok is False and record.last_success_at is not None
    return record.last_success_at is not None, record.last_success_at if frozen else None


def seen_at(view: ChannelView, now: datetime) -> ChannelView:
    """A view judged earlier, as read at ``now`` (before its deadline): the moment judged and
    the silence moved on with the clock, unless it is frozen at its last successful poll."""
    judged = judged_at(view.record, now)
    if judged == view.judged_at:
        return view
    last = view.cadence.last_post_at
    silence = judged - last if last is not None else None
    return replace(view, judged_at=judged, cadence=replace(view.cadence, silence=silence))


class Judgements:
    """Every configured channel's judgement, kept current; safe to read from any thread."""

    def __init__(
        self,
        channels: Sequence[ChannelSettings],
        ids: Mapping[ChannelKey, int],
        *,
        store: Store,
        db: DbCall,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = {ids[c.key]: c for c in channels if c.key in ids}
        self._order = list(self._settings)  # configuration order
        self._lookback = max((lookback(c.policy) for c in channels), default=MARGIN)
        self._store = store
        self._db = db
        self._clock = clock
        self._entries: dict[int, _Entry] = {}
        self._heap: list[tuple[datetime, int]] = []
        self._newest_at: datetime | None = None  # the latest moment any entry was judged at
        self._lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._sleeping_until: datetime | None = None
        self._reload = False  # the clock went back further than the posts held reach
        self.version = 0  # counts changes of any view: a cache of what is made of them keys on it
        self._changes: deque[tuple[int, int]] = deque(maxlen=CHANGE_LOG)  # (version, channel)
        self._reads = PostReads(store, db)

    # -- reading ---------------------------------------------------------------------------

    def views(self, now: datetime | None = None) -> list[ChannelView]:
        """Every channel judged at ``now`` (default: the clock), in configuration order."""
        now = self._clock() if now is None else now
        with self._lock:
            self._settle(now)
            entries = [self._entries[c] for c in self._order if c in self._entries]
        return [seen_at(e.view, now) for e in entries]

    def current(self) -> tuple[int, list[tuple[int, ChannelView]]]:
        """The version and every channel's view as judged (its silence may be older than now:
        for readers that show none, such as ``/metrics``)."""
        now = self._clock()
        with self._lock:
            self._settle(now)
            entries = self._entries
            return self.version, [(c, entries[c].view) for c in self._order if c in entries]

    def changed(self, after: int) -> tuple[int, list[tuple[int, ChannelView]]] | None:
        """The version, and the channels whose view changed since version ``after`` (as
        ``current``); None when that is too long ago to tell (read ``current`` then)."""
        now = self._clock()
        with self._lock:
            self._settle(now)
            changes = self._changes
            if after < self.version and (not changes or changes[0][0] > after + 1):
                return None
            ids: dict[int, None] = {}
            for version, channel_id in reversed(changes):
                if version <= after:
                    break
                ids[channel_id] = None
            entries = self._entries
            return self.version, [(c, entries[c].view) for c in ids if c in entries]

    def next_deadline(self) -> datetime | None:
        """The earliest moment some channel is due to be judged again."""
        with self._lock:
            self._drop_stale_top()
            return self._heap[0][0] if self._heap else None

    # -- building --------------------------------------------------------------------------

    def load(self, faults: Mapping[int, StoreFault] | None = None) -> None:
        """Judge every channel from the store: one read of the records, one of the posts
        (blocking: run it on the database thread)."""
        now = self._clock()
        faults = dict(faults or {})
        records, posts, since = self._read(self._order, faults, now)
        judged = {
            i: self._judged(
                self._settings[i],
                records[i],
                fault=faults.get(i),
                posts=PostLog.of(posts.get(i, ())),
                since=since,
                now=now,
            )
            for i in self._order
            if i in records
        }
        with self._lock:
            for i, entry in self._entries.items():  # a fault that came or went meanwhile
                if i in judged and entry.fault != judged[i].fault:
                    again = judged[i]
                    judged[i] = self._judged(
                        entry.settings,
                        again.record,
                        fault=entry.fault,
                        posts=again.posts,
                        since=since,
                        now=now,
                    )
            self._entries = judged
            self._heap = [(e.until, i) for i, e in judged.items() if e.until is not None]
            heapq.heapify(self._heap)
            self._newest_at = now
            self._reload = False
            self.version += 1
            self._changes.clear()  # every channel changed: readers of ``changed`` start over

    def _read(
        self, wanted: Sequence[int], faults: Mapping[int, StoreFault | None], now: datetime
    ) -> tuple[dict[int, ChannelRecord], dict[int, list[PostTime]], datetime]:
        """The stored records and posts of these channels, in chunks of ids; posts from when
        judging them at ``now`` and a while after needs them."""
        chunks = [wanted[i : i + LOAD_CHUNK] for i in range(0, len(wanted), LOAD_CHUNK)]
        records = {i: r for chunk in chunks for i, r in self._store.channels(chunk).items()}
        since = self._since((_shown(r, faults.get(i)) for i, r in records.items()), now)
        posts = {
            i: found
            for chunk in chunks
            for i, found in self._store.post_times(chunk, since=since, newest=NEWEST).items()
        }
        return records, posts, since

    def _since(self, shown: Iterable[ChannelRecord], now: datetime) -> datetime:
        """From when posts are read to judge these records at ``now`` and a while after."""
        earliest = min((judged_at(r, now) for r in shown), default=now)
        return earliest - self._lookback - MARGIN

    # -- what changes it (on the event loop) -------------------------------------------------

    async def stored(self, channel_id: int, outcome: PollOutcome, new_posts: int) -> None:
        """A poll of the channel was stored (``outcome`` as stored: its checkpoint sealed)."""
        entry = self._entries.get(channel_id)
        if entry is None:
            return
        fresh: PostLog | None = None
        since, behind = entry.since, entry.behind
        if new_posts or behind:  # its posts are read again, with those of polls stored with it
            try:
                found, since = await self._reads.read(
                    channel_id, self._since((), outcome.finished_at)
                )
            except Exception as exc:
                log.warning(
                    "channel %s judged without its new posts (read again at its next poll): %s",
                    channel_id,
                    exc,
                )
                since, behind = entry.since, True
            else:
                fresh, behind = PostLog.of(found), False
        with self._lock:
            entry = self._entries[channel_id]
            self._apply(
                entry,
                self._clock(),
                record=stored_record(entry.record, outcome),
                fault=None,
                posts=entry.posts if fresh is None else fresh,
                since=since,
                behind=behind,
            )
        self._nudge()

    def store_fault(self, channel_id: int, fault: StoreFault | None) -> None:
        """Polls of the channel the store refused (None: none any more)."""
        with self._lock:
            entry = self._entries.get(channel_id)
            if entry is None or entry.fault == fault:
                return
            self._apply(
                entry,
                self._clock(),
                record=entry.record,
                fault=fault,
                posts=entry.posts,
                since=entry.since,
                behind=entry.behind,
            )
        self._nudge()

    async def refresh(self, skip: Collection[int] = ()) -> int:
        """Read again, from the store, every channel polled since it was last read, but those
        in ``skip`` (polled here: their polls are told to ``stored``); how many were."""
        records, posts, since = await self._db(self._changed_in_store, frozenset(skip))
        if not records:
            return 0
        with self._lock:
            now = self._clock()
            for channel_id, record in records.items():
                entry = self._entries[channel_id]
                found = PostLog.of(posts.get(channel_id, ()))
                self._apply(entry, now, record=record, fault=entry.fault, posts=found, since=since)
        self._nudge()
        return len(records)

    def _changed_in_store(
        self, skip: frozenset[int]
    ) -> tuple[dict[int, ChannelRecord], dict[int, list[PostTime]], datetime]:
        """The stored records and posts of the channels whose last poll is not the one held."""
        now = self._clock()
        entries = self._entries
        wanted = [i for i in self._order if i not in skip]
        if not wanted:  # this daemon polls every channel: nothing to read
            return {}, {}, now
        marks = self._store.last_polls(wanted)
        moved = [
            i for i, at in marks.items() if i in entries and entries[i].record.last_poll_at != at
        ]
        if not moved:
            return {}, {}, now
        return self._read(moved, {i: entries[i].fault for i in moved}, now)

    # -- the deadline timer ------------------------------------------------------------------

    async def run(self) -> None:
        """Judge each channel again at its deadline, until cancelled (wall-clock steps are
        noticed within ``MAX_NAP``: each wait is measured again against the wall clock)."""
        self._wake = asyncio.Event()
        while True:
            now = self._clock()
            try:
                with self._lock:
                    self._settle(now)
                    self._drop_stale_top()
                    due = self._heap[0][0] if self._heap else None
                    reload, self._reload = self._reload, False
                if reload:
                    log.warning(
                        "the wall clock went back beyond the posts held: reading them again"
                    )
                    faults = {i: e.fault for i, e in self._entries.items() if e.fault}
                    await self._db(self.load, faults)
                    continue
            except Exception:  # readers still settle what ran out; try again a nap later
                log.exception("could not judge the channels whose deadline passed")
                due = None
            nap = MAX_NAP if due is None else min(MAX_NAP, (due - now).total_seconds())
            self._sleeping_until = due
            self._wake.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that
            # comes as the wait ends (a poll woke the timer as the daemon stops), and this loop
            # would go on for ever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, nap)):
                    await self._wake.wait()

    def _nudge(self) -> None:
        """Wake the timer if a deadline now falls before the one it sleeps until (loop only)."""
        if self._wake is None:
            return
        top = self.next_deadline()
        if top is not None and (self._sleeping_until is None or top < self._sleeping_until):
            self._wake.set()

    # -- judging (under the lock) ------------------------------------------------------------

    def _judged(
        self,
        settings: ChannelSettings,
        record: ChannelRecord,
        *,
        fault: StoreFault | None,
        posts: PostLog,
        since: datetime,
        now: datetime,
        behind: bool = False,
    ) -> _Entry:
        listed = posts.posts()
        view = judge(settings, _shown(record, fault), listed, now)
        if view.judged_at - lookback(settings.policy) < since:
            self._reload = True  # judged earlier than the posts held reach: read them again
        until = next_change(view, listed, now)
        return _Entry(settings, record, fault, posts, since, view, now, until, behind)

    def _apply(
        self,
        entry: _Entry,
        now: datetime,
        *,
        record: ChannelRecord,
        fault: StoreFault | None,
        posts: PostLog,
        since: datetime,
        behind: bool = False,
    ) -> None:
        """Make ``entry`` hold ``record``, ``fault`` and ``posts``, judging it again only when
        that can change its judgement."""
        shown = _shown(record, fault)
        valid = entry.at <= now and (entry.until is None or now < entry.until)
        if posts is entry.posts and valid and _basis(shown) == _basis(entry.view.record):
            view = replace(entry.view, record=shown)  # same posts, same moment judged
            new = replace(entry, record=record, fault=fault, view=view, behind=behind)
        else:
            new = self._judged(
                entry.settings,
                record,
                fault=fault,
                posts=posts,
                since=since,
                now=now,
                behind=behind,
            )
        self._put(new)

    def _put(self, entry: _Entry) -> None:
        channel_id = self._channel_id(entry)
        old = self._entries.get(channel_id)
        self._entries[channel_id] = entry
        if entry.until is not None and (old is None or old.until != entry.until):
            heapq.heappush(self._heap, (entry.until, channel_id))
            if len(self._heap) > 2 * len(self._entries) + 64:  # deadlines that moved
                self._heap = [(e.until, i) for i, e in self._entries.items() if e.until]
                heapq.heapify(self._heap)
        if self._newest_at is None or entry.at > self._newest_at:
            self._newest_at = entry.at
        self.version += 1
        self._changes.append((self.version, channel_id))

    def _channel_id(self, entry: _Entry) -> int:
        return entry.record.id

    def _settle(self, now: datetime) -> None:
        """Judge again every channel whose deadline has come, and every one judged after
        ``now`` (the wall clock went back)."""
        if self._newest_at is not None and now < self._newest_at:
            for ahead in [e for e in self._entries.values() if e.at > now]:
                self._put(self._rejudged(ahead, now))
            self._newest_at = now
        heap = self._heap
        while heap and heap[0][0] <= now:
            until, channel_id = heapq.heappop(heap)
            entry = self._entries.get(channel_id)
            if entry is not None and entry.until == until:
                self._put(self._rejudged(entry, now))

    def _rejudged(self, entry: _Entry, now: datetime) -> _Entry:
        return self._judged(
            entry.settings,
            entry.record,
            fault=entry.fault,
            posts=entry.posts,
            since=entry.since,
            now=now,
            behind=entry.behind,
        )

    def _drop_stale_top(self) -> None:
        heap = self._heap
        while heap:
            until, channel_id = heap[0]
            entry = self._entries.get(channel_id)
            if entry is not None and entry.until == until:
                return
            heapq.heappop(heap)


_Read = tuple[int, datetime, "asyncio.Future[tuple[list[PostTime], datetime]]"]


class PostReads:
    """Channels' posts read again after their polls, as one query for all asked together.

    Polls are stored in batches, so many channels with new posts are judged again at the same
    moment: their reads are gathered while the previous query runs and made as one (there is
    no waiting window, as for the group commit in ``monitor.writer``). Each read starts at the
    earliest ``since`` asked, which only reads a few more posts than one alone would.
    """

    def __init__(self, store: Store, db: DbCall) -> None:
        self._store = store
        self._db = db
        self._pending: list[_Read] = []
        self._reading: asyncio.Task[None] | None = None

    async def read(self, channel_id: int, since: datetime) -> tuple[list[PostTime], datetime]:
        """The channel's posts from ``since`` (or earlier) and the moment they were read from."""
        future: asyncio.Future[tuple[list[PostTime], datetime]]
        future = asyncio.get_running_loop().create_future()
        self._pending.append((channel_id, since, future))
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._read_pending())
        return await future

    async def _read_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            since = min(asked for _, asked, _ in batch)
            ids = sorted({channel_id for channel_id, _, _ in batch})
            try:
                found = await self._db(self._read, ids, since)
            except Exception as exc:  # handed to every poll that asked
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for channel_id, _, future in batch:
                if not future.done():
                    future.set_result((found.get(channel_id, []), since))

    def _read(self, ids: list[int], since: datetime) -> dict[int, list[PostTime]]:
        found: dict[int, list[PostTime]] = {}
        for start in range(0, len(ids), LOAD_CHUNK):
            chunk = ids[start : start + LOAD_CHUNK]
            found.update(self._store.post_times(chunk, since=since, newest=NEWEST))
        return found
