"""Polls per commit and the database thread's CPU per poll over the last SECONDS of a commit log.

python benchmarks/commit_log/summary.py commits.log [SECONDS]   # default: 60 (the steady phase)
"""

import sys
from collections import Counter


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as log:
        rows = [line.split() for line in log]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    end = float(rows[-1][0])
    steady = [(int(n), float(cpu)) for at, n, cpu in rows if float(at) >= end - seconds]
    polls = sum(n for n, _ in steady)
    print(
        f"{len(steady)} commits, {polls} polls: {polls / len(steady):.2f} polls per commit; "
        f"record_polls {1000 * sum(c for _, c in steady) / polls:.3f} ms CPU per poll; "
        f"batch sizes {sorted(Counter(n for n, _ in steady).items())}"
    )


if __name__ == "__main__":
    main()
