"""Durability bench: a writer killed with SIGKILL at random moments, N times (default 500).

    python bench/kill_bench.py [--trials 500] [--max-delay 0.15]

Each trial starts a writer process that records random judgements (K = 2..9, ties, strengths)
and prints each one after its commit returns; at a random moment after its first commit it is
killed with SIGKILL. Then every judgement it reported must be in the file with all its pairs,
every judgement in the file must have exactly its ranking's pairs, and PRAGMA integrity_check
must say ok. The same machinery runs 50 trials in the test suite.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.durability import integrity, kill_trial, make_writer_project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--max-delay", type=float, default=0.15, help="seconds after the first commit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    reported = missing = wrong = not_ok = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        project = Path(folder) / "kill.db"
        make_writer_project(project)
        for trial in range(args.trials):
            result = kill_trial(project, seed=args.seed * 100_000 + trial, rng=rng, max_delay_s=args.max_delay)
            reported += result.reported
            missing += len(result.missing)
            wrong += len(result.wrong_pairs)
            not_ok += integrity(project) != "ok"
            if (trial + 1) % 50 == 0:
                print(f"{trial + 1} trials, {reported:,} judgements reported", file=sys.stderr, flush=True)
        size_mb = project.stat().st_size / 1e6
    elapsed = time.perf_counter() - started

    print(
        f"kill bench — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {platform.node()} — "
        f"{platform.machine()}, Python {platform.python_version()}"
    )
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| SIGKILL trials | {args.trials} |")
    print(f"| judgements reported committed before a kill | {reported:,} |")
    print(f"| of those missing or without all their pairs afterwards | {missing} |")
    print(f"| judgements whose stored pairs differ from their ranking's | {wrong} |")
    print(f"| integrity_check not ok | {not_ok} |")
    print(f"| final project size | {size_mb:.1f} MB |")
    print(f"| wall time | {elapsed:.0f} s |")
    sys.exit(1 if missing or wrong or not_ok else 0)


if __name__ == "__main__":
    main()
