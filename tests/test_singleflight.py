"""SingleFlight: one run at a time, shared by the callers that come meanwhile, reused briefly."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from monitor.singleflight import SingleFlight


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=4)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


class Gated:
    """A computation that counts its runs and finishes only when let go."""

    def __init__(self) -> None:
        self.runs = 0
        self.started = threading.Event()
        self.go = threading.Event()

    def __call__(self) -> int:
        self.runs += 1
        self.started.set()
        if not self.go.wait(30):
            raise TimeoutError("never let go")
        return self.runs


async def started(gated: Gated) -> None:
    assert await asyncio.to_thread(gated.started.wait, 30)


async def test_callers_that_come_while_it_runs_share_one_run(
    executor: ThreadPoolExecutor,
) -> None:
    gated = Gated()
    shared = SingleFlight(gated, executor)
    first = asyncio.create_task(shared())
    await started(gated)
    others = [asyncio.create_task(shared()) for _ in range(7)]
    await asyncio.sleep(0)  # let them join
    gated.go.set()
    assert await asyncio.gather(first, *others) == [1] * 8
    assert gated.runs == 1
    assert await shared() == 2  # nothing to reuse: a new run


async def test_a_caller_that_gives_up_does_not_cancel_the_run(executor: ThreadPoolExecutor) -> None:
    gated = Gated()
    shared = SingleFlight(gated, executor)
    patient = asyncio.create_task(shared())
    await started(gated)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(shared(), timeout=0.01)
    gated.go.set()
    assert await patient == 1
    assert gated.runs == 1


async def test_a_failure_reaches_every_caller_and_the_next_call_runs_again(
    executor: ThreadPoolExecutor,
) -> None:
    runs: list[int] = []
    gate = threading.Event()

    def fails_once() -> str:
        runs.append(1)
        gate.wait(30)
        if len(runs) == 1:
            raise RuntimeError("database does not answer")
        return "ok"

    shared = SingleFlight(fails_once, executor)
    callers = [asyncio.create_task(shared()) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert [type(r) for r in results] == [RuntimeError] * 3
    assert await shared() == "ok"  # a failure is not reused
    assert len(runs) == 2
