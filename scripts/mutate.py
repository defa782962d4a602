#!/usr/bin/env python3
"""Mutation testing of the judgement, the error mapping, storage and the poll shell.

Runs mutmut (``pip install 'mutmut>=3.8'``; configured in pyproject's ``[tool.mutmut]``) and
prints each module's score: the share of mutants some test kills. Slow (minutes), so not part
of scripts/test. From the repository root:

    python scripts/mutate.py                         # every module
    python scripts/mutate.py 'connectors.errors*'    # only mutants whose name matches
    python scripts/mutate.py --survivors             # and list the mutants no test kills

``mutmut show NAME`` prints a mutant's diff. Results are kept in ``mutants/`` and reused while
neither code nor tests change; ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("monitor.cadence", "connectors.errors", "monitor.storage", "monitor.jobs")
DETECTED = {"killed", "timeout", "caught by type check", "segfault", "suspicious"}
NOT_RUN = {"not checked", "skipped"}


def results(mutmut: str, env: dict[str, str]) -> dict[str, Counter[str]]:
    """Each module's mutants, counted by mutmut's verdict."""
    shown = subprocess.run(
        [mutmut, "results", "--all", "true"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in shown.splitlines():
        name, sep, verdict = line.strip().partition(": ")
        if sep and "__mutmut_" in name:
            counts[name.rsplit(".", 1)[0]][verdict] += 1
    return counts


def survivors(mutmut: str, env: dict[str, str]) -> list[str]:
    shown = subprocess.run(
        [mutmut, "results"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    verdicts = (line.strip().rpartition(": ") for line in shown.splitlines())
    return [
        name
        for name, _, verdict in verdicts
        if "__mutmut_" in name and verdict not in DETECTED | NOT_RUN
    ]


def table(counts: dict[str, Counter[str]]) -> str:
    rows = [
        "| module | mutants | killed | survived | not run | score |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for module in MODULES:
        verdicts = counts.get(module, Counter())
        run = sum(n for v, n in verdicts.items() if v not in NOT_RUN)
        killed = sum(n for v, n in verdicts.items() if v in DETECTED)
        score = f"{100 * killed / run:.1f} %" if run else "–"
        not_run = sum(verdicts[v] for v in NOT_RUN)
        rows.append(
            f"| {module} | {verdicts.total()} | {killed} | {run - killed} | {not_run} | {score} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="*", help="mutant names to run (globs), default all")
    parser.add_argument("--max-children", type=int, default=2, help="parallel test runs")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    parser.add_argument("--survivors", action="store_true", help="list surviving mutants")
    args = parser.parse_args()
    mutmut = os.environ.get("MUTMUT") or shutil.which("mutmut")
    if mutmut is None:
        sys.exit("mutmut not found: pip install 'mutmut>=3.8' (or set MUTMUT to its path)")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the tests must import the mutated copy in mutants/
    if args.fresh:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    command = [mutmut, "run", "--max-children", str(args.max_children), *args.patterns]
    subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True)
    print(table(results(mutmut, env)))
    if args.survivors:
        print("\n".join(survivors(mutmut, env)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
