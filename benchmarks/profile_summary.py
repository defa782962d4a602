"""Where a daemon's CPU goes, from a py-spy profile in raw (collapsed) format.

Each busy sample (threads waiting for work or in ``select`` are left out) is given to the
innermost frame on its stack that belongs to a known part: the database, feed parsing, the HTTP
client, asyncio's own loop, or the daemon's modules. Record with ``PROFILE=out.txt
benchmarks/curve.sh 10000 60s`` (``daemon_load.py --profile``), then:

    .venv/bin/python benchmarks/profile_summary.py out.txt
"""

from __future__ import annotations

import re
import sys
from collections import Counter

PARTS = [  # the first pattern (from the leaf up) that a frame matches decides
    ("database (SQLAlchemy, sqlite3)", re.compile(r"sqlalchemy/|sqlite3|sqlmodel/|psycopg")),
    ("feed parsing", re.compile(r"feedparser/|xml/sax|expat|defusedxml|connectors/_feed_scan")),
    ("HTTP client (httpx)", re.compile(r"httpx/|httpcore/|h11/|anyio/")),
    ("HTTP client (aiohttp pool)", re.compile(r"aiohttp/(client|connector|streams|http|_http)")),
    ("web server (aiohttp)", re.compile(r"aiohttp/web")),
    ("logging", re.compile(r"logging/")),
    ("prometheus_client", re.compile(r"prometheus_client/")),
    ("connectors", re.compile(r"connectors/")),
    ("storing polls", re.compile(r"monitor/(storage|writer|poll_rows)\.py")),
    ("judgement, /metrics", re.compile(r"monitor/(judgement/|exposition|views|cadence|metrics)")),
    ("scheduling and limits", re.compile(r"monitor/(scheduler|timetable|limits|pacing)\.py")),
    ("the poll (jobs, transport)", re.compile(r"monitor/(jobs|http_client|aiohttp_transport)\.py")),
    ("other daemon code", re.compile(r"monitor/")),
    ("asyncio event loop", re.compile(r"asyncio/|selectors\.py")),
    ("threads", re.compile(r"concurrent/futures|threading\.py")),
]
IDLE = re.compile(r"thread\.py:81\)$|EpollSelector\.select|wait \(threading\.py")


def summarise(lines: list[str]) -> tuple[int, Counter[str]]:
    busy, parts = 0, Counter[str]()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if IDLE.search(frames[-1]):
            continue
        busy += int(count)
        part = next(
            (name for frame in reversed(frames) for name, rx in PARTS if rx.search(frame)),
            "other",
        )
        parts[part] += int(count)
    return busy, parts


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as profile:
        busy, parts = summarise(profile.readlines())
    print(f"{busy} busy samples")
    for name, count in parts.most_common():
        print(f"{count / max(busy, 1):6.1%}  {name}")


if __name__ == "__main__":
    main()
