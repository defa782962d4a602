"""Group commit: polls that finish together are stored in one transaction.

Each poll stays whole (its posts, checkpoint and poll row commit together); batching only
shares the cost of a transaction and its fsync among the polls ready at the same moment. A
batch that fails is retried one poll at a time, so one bad poll never loses the others.

There is no collection window (waiting a few milliseconds for more polls): a poll keeps one of
the daemon's slots (``max_in_flight``) until it is stored, so a batch never holds more polls than
are in flight, and every millisecond spent waiting would be taken from polling. Measured with 1,000
and 10,000 feeds of one host (two slots): 1.1–1.7 polls share a commit, and a commit costs some
0.13 ms of CPU beyond its polls' rows (``benchmarks/store_cost.py``): a window would buy little.
"""

from __future__ import annotations

import asyncio

from monitor.records import DbCall, PollOutcome
from monitor.storage import Store

_Pending = tuple[int, PollOutcome, "asyncio.Future[int]"]


class PollWriter:
    """Queues finished polls and writes them in batches on the database thread."""

    def __init__(self, store: Store, db: DbCall) -> None:
        self._store = store
        self._db = db
        self._pending: list[_Pending] = []
        self._flushing: asyncio.Task[None] | None = None

    async def record(self, channel_id: int, outcome: PollOutcome) -> int:
        """Store one poll (with whatever else is ready); return its number of new posts."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((channel_id, outcome, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
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
