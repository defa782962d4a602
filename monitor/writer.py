"""Group commit: polls that finish together are stored in one transaction.

Each poll stays whole (its posts, checkpoint and poll row commit together); batching only
shares the cost of a transaction (its statements, its fsync, a hop to the database thread) among
the polls ready at the same moment. A batch that fails is retried one poll at a time, so one bad
poll never loses the others.

A batch waits a little for the polls still reading (``WINDOW``, 100 ms at most), and not at all
when none is: a poll alone, as at a few channels, is written at once. The wait holds up no read:
a poll gives back its platform's slot and the daemon's (``monitor.limits``) once it is queued
here. What waits here is bounded instead: at most ``room`` polls (the daemon's
``max_in_flight``) are queued, and a poll waiting for room keeps its daemon slot. Measured at
10,000 feeds polled 167 times a second (``COMMITS=`` in ``benchmarks/daemon_load.sh``): a 20 ms
wait gave 4.6–6.5 polls a commit and 0.20–0.29 ms of the database thread's CPU a poll, 100 ms
18.1–18.7 polls and 0.10–0.12 ms (``benchmarks/store_cost.py`` for the commit alone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from monitor.records import DbCall, PollOutcome
from monitor.storage import Store

_Pending = tuple[int, PollOutcome, "asyncio.Future[int]"]

WINDOW = 0.1
"""Seconds a batch waits at most for the polls in flight to join it."""


class PollWriter:
    """Queues finished polls and writes them in batches on the database thread."""

    def __init__(
        self,
        store: Store,
        db: DbCall,
        *,
        coming: Callable[[], int] | None = None,
        room: int | None = None,
    ) -> None:
        """``coming``: how many polls are running that have not been handed here yet (None:
        a batch never waits); ``room``: how many polls may be queued or being written at once
        (None: any number)."""
        self._store = store
        self._db = db
        self._coming = coming
        self._room = asyncio.Semaphore(room) if room is not None else None
        self._pending: list[_Pending] = []
        self._flushing: asyncio.Task[None] | None = None
        self._gathering: asyncio.Future[None] | None = None

    async def record(
        self, channel_id: int, outcome: PollOutcome, *, queued: Callable[[], None] | None = None
    ) -> int:
        """Store one poll (with whatever else is ready); return its number of new posts.

        ``queued`` is called once the poll has its place in the queue (after waiting for room).
        """
        if self._room is None:
            return await self._queue(channel_id, outcome, queued)
        async with self._room:
            return await self._queue(channel_id, outcome, queued)

    async def _queue(
        self, channel_id: int, outcome: PollOutcome, queued: Callable[[], None] | None
    ) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((channel_id, outcome, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        elif self._gathering is not None and not self._expecting():
            _wake(self._gathering)
        if queued is not None:
            queued()
        return await future

    def _expecting(self) -> bool:
        """Whether polls still running may join the batch."""
        return self._coming is not None and self._coming() > 0

    async def _gather(self) -> None:
        """Wait up to ``WINDOW`` for the polls in flight to join the batch."""
        if not self._expecting():
            return
        loop = asyncio.get_running_loop()
        self._gathering = gathering = loop.create_future()
        timer = loop.call_later(WINDOW, _wake, gathering)
        try:
            await gathering
        finally:
            timer.cancel()
            self._gathering = None

    async def _flush(self) -> None:
        while self._pending:
            await self._gather()
            batch, self._pending = self._pending, []
            try:
                counts = await self._db(self._store.record_polls, [(c, o) for c, o, _ in batch])
            except Exception:  # isolate the poll that broke the batch
                for channel_id, outcome, future in batch:
                    await self._one(channel_id, outcome, future)
                continue
            for (_, _, future), count in zip(batch, counts, strict=True):
                if not future.done():
                    future.set_result(count)

    async def _one(
        self, channel_id: int, outcome: PollOutcome, future: asyncio.Future[int]
    ) -> None:
        try:
            count = await self._db(self._store.record_poll, channel_id, outcome)
        except Exception as exc:  # handed to the poll that owns it
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(count)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
