"""The scheduler's bookkeeping per poll: ``Timetable.take_due``, ``next_due`` and ``finished``.

Plays the scheduler's loop on a simulated monotonic clock for N channels (no I/O, no event
loop): every channel is planned, the loop takes what is due, asks when the next poll falls due,
and each poll finishes DURATION later with its interval plus jitter as the next wait. The
channels keep a rhythm from a last poll spread over their interval, as after a restart.
Reports the time spent in the timetable per poll; ``--code DIR`` measures another source tree
(before and after a change).

    .venv/bin/python benchmarks/timetable.py [--channels 10000 100000] [--code ../main]
"""

from __future__ import annotations

import argparse
import heapq
import importlib
import inspect
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
INTERVAL = 6 * 3600.0  # the default poll interval
JITTER = 15 * 60.0
DURATION = 0.2  # seconds a poll takes: some are always in flight
START_SPREAD = 30.0


def measure(timetable: Any, channels: int, polls: int) -> float:
    """Microseconds of timetable work per poll, over ``polls`` polls."""
    table = timetable.Timetable()
    # the timetable of old took the polls in flight from its caller; today's keeps them itself
    busy_arg = "busy" in inspect.signature(table.take_due).parameters
    rng = random.Random(1)
    now = 1000.0
    interval = timedelta(seconds=INTERVAL)
    wall = datetime(2026, 6, 1, tzinfo=UTC)
    last = {i: wall - timedelta(seconds=rng.uniform(0, INTERVAL)) for i in range(channels)}
    table.plan(
        dict.fromkeys(range(channels), interval),
        last,
        wall=wall,
        now=now,
        spread=timedelta(seconds=START_SPREAD),
    )
    in_flight: dict[int, float] = {}
    ends: list[tuple[float, int]] = []  # when each running poll finishes
    spent = 0.0
    counted = 0
    while counted < polls:
        t0 = time.perf_counter()
        taken = table.take_due(now, in_flight) if busy_arg else table.take_due(now)
        due = table.next_due(in_flight) if busy_arg else table.next_due()
        spent += time.perf_counter() - t0
        for channel in taken:
            in_flight[channel] = now
            heapq.heappush(ends, (now + DURATION, channel))
        # the loop wakes at the next due poll or the next finished one
        now = min(due if due is not None else float("inf"), ends[0][0] if ends else float("inf"))
        while ends and ends[0][0] <= now:
            end, channel = heapq.heappop(ends)
            del in_flight[channel]
            wait = INTERVAL + JITTER * rng.random()
            t0 = time.perf_counter()
            table.finished(channel, end, wait)
            spent += time.perf_counter() - t0
            counted += 1
    return spent / counted * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--polls", type=int, default=2_000, help="polls measured per size")
    parser.add_argument("--code", type=Path, default=ROOT, help="the source tree to measure")
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    timetable = importlib.import_module("monitor.timetable")
    print(f"timetable from {Path(timetable.__file__).resolve()}")
    for channels in args.channels:
        cost = measure(timetable, channels, args.polls)
        print(f"{channels:>7} channels: {cost:8.1f} µs per poll ({args.polls} polls)")


if __name__ == "__main__":
    main()
