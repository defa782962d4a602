"""One blocking computation at a time, on its own executor, shared by everyone who asks meanwhile.

Eight clients asking ``/api/channels`` at once share one snapshot instead of queueing eight; a
readiness probe that comes while a database ping is under way waits for that ping instead of
starting another behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Runs ``compute`` on ``executor``, never twice at once: a caller that asks while it runs
    gets that run's result (or exception); one that asks afterwards starts a new run."""

    def __init__(self, compute: Callable[[], T], executor: Executor) -> None:
        self._compute = compute
        self._executor = executor
        self._running: asyncio.Future[T] | None = None

    async def __call__(self) -> T:
        if self._running is None:
            running = asyncio.get_running_loop().run_in_executor(self._executor, self._compute)
            running.add_done_callback(self._ended)
            self._running = running
        # a caller that gives up (a timeout) does not cancel the run the others wait for
        return await asyncio.shield(self._running)

    def _ended(self, running: asyncio.Future[T]) -> None:
        self._running = None
        if not running.cancelled():
            running.exception()  # retrieved, even when every caller gave up waiting
