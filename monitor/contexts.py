"""Poll contexts read in batches: what a channel's first poll since the start needs from the store.

A channel's poll context (its checkpoint, newest post and failures) is read once per start (or
takeover) and then kept up to date by the poller. At a start thousands of first polls ask for
theirs within seconds; read one at a time, each was an ORM read and a hop to the database
thread, some 17 % of the first round's CPU at 10,000 feeds. Here the requests made while a
read is running wait for it and are read together next (``Store.poll_contexts``: three queries
for up to 500 channels), as the group commit does for writes (``monitor.writer``).
"""

from __future__ import annotations

import asyncio

from monitor.records import DbCall, PollContext
from monitor.storage import Store, no_channel


class ContextReader:
    """Reads poll contexts for the polls that ask at about the same moment, in one go."""

    def __init__(self, store: Store, db: DbCall) -> None:
        self._store = store
        self._db = db
        self._wanted: dict[int, list[asyncio.Future[PollContext]]] = {}
        self._reading: asyncio.Task[None] | None = None

    async def read(self, channel_id: int) -> PollContext:
        """This channel's poll context as stored; raises what reading it raised."""
        future: asyncio.Future[PollContext] = asyncio.get_running_loop().create_future()
        self._wanted.setdefault(channel_id, []).append(future)
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._read())
        return await future

    async def _read(self) -> None:
        while self._wanted:
            wanted, self._wanted = self._wanted, {}
            try:
                contexts = await self._db(self._store.poll_contexts, list(wanted))
            except Exception as exc:  # handed to every poll that asked
                for futures in wanted.values():
                    _settle(futures, exc)
                continue
            for channel_id, futures in wanted.items():
                context = contexts.get(channel_id)
                if context is None:
                    _settle(futures, no_channel(channel_id))
                else:
                    _settle(futures, context)


def _settle(futures: list[asyncio.Future[PollContext]], outcome: PollContext | Exception) -> None:
    for future in futures:
        if future.done():  # the poll was cancelled meanwhile
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
