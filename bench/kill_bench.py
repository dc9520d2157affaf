"""Durability bench: writers killed with SIGKILL at random moments, N times (default 500 of each kind).

    python bench/kill_bench.py [--trials 500] [--max-delay 0.15] [--mixed-trials 500] [--mixed-max-delay 1.5]

Single-writer trials: a writer process records random judgements (K = 2..9, ties, strengths)
and prints each one after its commit returns; at a random moment after its first commit it is
killed with SIGKILL. Then every judgement it reported must be in the file with all its pairs,
every judgement in the file must have exactly its ranking's pairs, and PRAGMA integrity_check
must say ok.

Mixed trials (issue 14): the writer is app-like (its main store open, job stores opened and closed
beside it on a worker thread and after some saves, as the app's window does), and the commands a
user runs beside the app use the same file meanwhile, as real processes: labeler stats, export,
snapshot, import (some imports killed with SIGKILL midway) and the trainer's snapshot. Until the
writer is killed its open files are watched (/proc/PID/fd, Linux): its -wal and -shm must never be
unlinked while it is connected. The same checks follow, and: a finished import's prompts are all
there, a killed one's all or none, no command failed, no job of the writer failed. Each mixed
trial starts from a new project, so every trial's commands read a project of the same size.

The test suite runs the same machinery: 50 single-writer trials and 12 mixed ones.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.durability import (
    COMPANIONS,
    MixedTrialResult,
    TrialResult,
    integrity,
    kill_trial,
    make_mixed_project,
    make_writer_project,
    mixed_trial,
)

from labeler.store import StoreError

PROGRESS_EVERY = 50  # trials
TallyKind = TypeVar("TallyKind", bound="Tally")


@dataclass
class Tally:
    """What the single-writer trials added up to; MixedTally adds what only mixed trials have."""

    trials: int = 0
    reported: int = 0
    missing: int = 0
    wrong_pairs: int = 0
    integrity_not_ok: int = 0
    project_size: str = ""
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after

    def add_checks(self, result: TrialResult, integrity_result: str) -> None:
        self.trials += 1
        self.reported += result.reported
        self.missing += len(result.missing)
        self.wrong_pairs += len(result.wrong_pairs)
        self.integrity_not_ok += integrity_result != "ok"
        if self.trials % PROGRESS_EVERY == 0:
            print(f"{self.trials} trials, {self.reported:,} judgements reported", file=sys.stderr, flush=True)

    def failed(self) -> bool:
        return bool(self.missing or self.wrong_pairs or self.integrity_not_ok)

    def rows(self) -> dict[str, str]:
        """measure -> value, in the table's order."""
        return {
            "trials": f"{self.trials}",
            "judgements reported committed before a kill": f"{self.reported:,}",
            "of those missing or without all their pairs afterwards": f"{self.missing}",
            "judgements whose stored pairs differ from their ranking's": f"{self.wrong_pairs}",
            "integrity_check not ok": f"{self.integrity_not_ok}",
            **self.mixed_rows(),
            "project size afterwards": self.project_size,
            "wall time": f"{self.seconds:.0f} s",
            "load average (1 min) before → after": f"{self.load[0]:.2f} → {self.load[1]:.2f}",
        }

    def mixed_rows(self) -> dict[str, str]:
        return {}


@dataclass
class MixedTally(Tally):
    unlinked: int = 0  # trials where the writer's -wal or -shm was unlinked while it was connected
    fd_samples: int = 0
    writer_troubles: int = 0  # writers that ended on their own or had a job fail
    companions: Counter[str] = field(default_factory=Counter)  # commands run, by kind
    imports_killed: int = 0
    imports_not_whole: int = 0
    companion_failures: int = 0
    unreadable: int = 0  # trials whose project could not be read afterwards to check it

    def add(self, result: MixedTrialResult) -> None:
        self.unlinked += bool(result.unlinked_while_connected)
        self.fd_samples += result.fd_samples
        self.writer_troubles += result.writer_ended_on_its_own or bool(result.failed_jobs)
        self.companions += result.companions.runs
        self.imports_killed += len(result.companions.imports_killed)
        self.imports_not_whole += len(result.imports_not_whole)
        self.companion_failures += len(result.companions.failures)
        self.add_checks(result.judgements, result.integrity)

    def failed(self) -> bool:
        troubles = self.unlinked or self.writer_troubles or self.imports_not_whole or self.companion_failures
        return super().failed() or bool(troubles or self.unreadable)

    def mixed_rows(self) -> dict[str, str]:
        return {
            "trials where the writer's -wal or -shm was unlinked while it was connected": f"{self.unlinked}",
            "looks at the writer's open files (/proc/PID/fd)": f"{self.fd_samples:,}",
            "writers that ended on their own or had a job fail": f"{self.writer_troubles}",
            **{f"companion commands run: {kind}": f"{self.companions[kind]:,}" for kind in COMPANIONS},
            "companion commands that failed": f"{self.companion_failures}",
            "imports killed with SIGKILL": f"{self.imports_killed}",
            "imports not whole afterwards (finished: all prompts; killed: all or none)": f"{self.imports_not_whole}",
            "trials whose project could not be read afterwards (not counted above)": f"{self.unreadable}",
        }


def timed(run: Callable[[], TallyKind]) -> TallyKind:
    """`run()`, with its wall time and the machine's load before and after (others' work slows trials down)."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    tally = run()
    tally.seconds = time.perf_counter() - started
    tally.load = (load_before, os.getloadavg()[0])
    return tally


def single_writer_trials(count: int, max_delay_s: float, seed: int, folder: Path) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    project = folder / "kill.db"
    make_writer_project(project)
    for trial in range(count):
        result = kill_trial(project, seed=seed * 100_000 + trial, rng=rng, max_delay_s=max_delay_s)
        tally.add_checks(result, integrity(project))
    tally.project_size = f"{project.stat().st_size / 1e6:.1f} MB"
    return tally


def mixed_trials(count: int, max_delay_s: float, seed: int, folder: Path) -> MixedTally:
    """Each on a new project: the companions' work (stats, export) grows with the project, and the
    trials should stay alike. A project that cannot be read afterwards is counted, and the next
    trial goes on with a new one."""
    rng = random.Random(seed)
    tally = MixedTally()
    largest = 0
    for trial in range(count):
        with tempfile.TemporaryDirectory(dir=folder) as trial_folder:
            project = Path(trial_folder) / "mixed.db"
            make_mixed_project(project)
            trial_seed = seed * 100_000 + trial
            try:
                tally.add(mixed_trial(project, trial_seed, rng, Path(trial_folder), max_delay_s=max_delay_s))
            except (sqlite3.DatabaseError, StoreError) as error:
                tally.unreadable += 1
                print(f"mixed trial {trial}: the project could not be read: {error}", file=sys.stderr, flush=True)
            largest = max(largest, project.stat().st_size)
    tally.project_size = f"{largest / 1e6:.1f} MB at most (a new project each trial)"
    return tally


def print_table(single: Tally, mixed: MixedTally) -> None:
    single_rows, mixed_rows = single.rows(), mixed.rows()
    print("| measure | single writer | app-like writer + companions |")
    print("|---|---|---|")
    for measure, value in mixed_rows.items():
        print(f"| {measure} | {single_rows.get(measure, '—')} | {value} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500, help="single-writer trials")
    parser.add_argument("--max-delay", type=float, default=0.15, help="seconds after the first commit (single writer)")
    parser.add_argument("--mixed-trials", type=int, default=500, help="app-like writer + companion trials")
    parser.add_argument("--mixed-max-delay", type=float, default=1.5, help="seconds after the first commit (mixed)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        single = timed(lambda: single_writer_trials(args.trials, args.max_delay, args.seed, Path(folder)))
        mixed = timed(lambda: mixed_trials(args.mixed_trials, args.mixed_max_delay, args.seed, Path(folder)))

    print(
        f"kill bench — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {platform.node()} — "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print()
    print_table(single, mixed)
    sys.exit(1 if single.failed() or mixed.failed() else 0)


if __name__ == "__main__":
    main()
