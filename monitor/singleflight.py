"""One blocking computation at a time, on its own executor, shared by everyone who asks meanwhile.

Eight clients asking ``/api/channels`` at once share one snapshot instead of queueing eight; a
readiness probe that comes while a database ping is under way waits for that ping instead of
starting another behind it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Runs ``compute`` on ``executor``, never twice at once.

    A caller that asks while it runs gets that run's result (or exception). A result is
    reused for ``reuse`` seconds after its run ended, so that a steady stream of callers
    keeps ``compute`` busy at most ``t / (t + reuse)`` of the time, however long a run
    takes (``t``); 0 reuses nothing.
    """

    def __init__(
        self,
        compute: Callable[[], T],
        executor: Executor,
        *,
        reuse: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compute = compute
        self._executor = executor
        self._reuse = reuse
        self._clock = clock
        self._running: asyncio.Future[T] | None = None
        self._last: tuple[float, T] | None = None  # (when its run ended, result)

    async def __call__(self) -> T:
        reusable = self._reusable()
        if reusable is not None:
            return reusable[1]
        if self._running is None:
            running = asyncio.get_running_loop().run_in_executor(self._executor, self._run)
            running.add_done_callback(self._ended)
            self._running = running
        # a caller that gives up (a timeout) does not cancel the run the others wait for
        return await asyncio.shield(self._running)

    def latest(self) -> T:
        """The last result while it may be reused, else a new one computed in this thread."""
        reusable = self._reusable()
        return reusable[1] if reusable is not None else self._run()

    def _reusable(self) -> tuple[float, T] | None:
        last = self._last
        if last is not None and self._clock() - last[0] < self._reuse:
            return last
        return None

    def _run(self) -> T:
        result = self._compute()
        self._last = (self._clock(), result)
        return result

    def _ended(self, running: asyncio.Future[T]) -> None:
        self._running = None
        if not running.cancelled():
            running.exception()  # retrieved, even when every caller gave up waiting
