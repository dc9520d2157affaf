"""Durability trials shared by the suite (tests/test_durability.py) and bench/kill_bench.py.

Run as a script this is a *writer*: it records random judgements into a project and prints
"UUID PAIRS" on stdout after each commit returns. The functions below start writers, kill them
with SIGKILL at random moments, and check that every judgement a writer reported is in the file
with all its pairs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from labeler.domain import Judgement, Ranking, ranking_to_pairs
from labeler.store import NewAnswer, open_store

WRITER = Path(__file__).resolve()


def make_writer_project(path: Path, prompts: int = 30, answers: int = 9) -> None:
    with open_store(path, create=True) as store:
        for p in range(prompts):
            store.add_prompt(
                f"durability prompt {p}",
                [NewAnswer(f"answer {a} of prompt {p} " + "text " * (a * 20)) for a in range(answers)],
            )


def random_judgement(rng: random.Random, answer_ids: list[int]) -> tuple[Judgement, list[int]]:
    """A random display order of 2..9 of the answers and a random judgement of them."""
    shown = rng.sample(answer_ids, rng.randint(2, min(9, len(answer_ids))))
    if rng.random() < 0.05:
        return Judgement.all_bad(), shown
    order = rng.sample(shown, len(shown))
    cuts = sorted(rng.sample(range(1, len(order)), rng.randint(0, len(order) - 1)))
    bounds = [0, *cuts, len(order)]
    tiers = [order[a:b] for a, b in itertools.pairwise(bounds)]
    ranking = Ranking.of(tiers, [rng.randint(1, 3) for _ in tiers[1:]])
    return Judgement.ranked(ranking, likert=rng.randint(1, 7), comment="x" * rng.randint(0, 200)), shown


def writer_main(project: Path, seed: int, count: int | None, annotator: str) -> None:
    rng = random.Random(seed)
    with open_store(project) as store:
        prompts = [(p, [a.id for a in store.prompt(p).answers]) for p in store.prompt_ids()]
        written = 0
        while count is None or written < count:
            prompt_id, answer_ids = rng.choice(prompts)
            judgement, shown = random_judgement(rng, answer_ids)
            recorded = store.record_judgement(prompt_id, annotator, judgement, shown, seconds_spent=rng.random() * 60)
            print(recorded.uuid, recorded.pairs, flush=True)
            written += 1


def start_writer(project: Path, seed: int, count: int | None = None, annotator: str = "writer") -> subprocess.Popen:
    command = [sys.executable, str(WRITER), str(project), "--seed", str(seed), "--annotator", annotator]
    if count is not None:
        command += ["--count", str(count)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@dataclass
class TrialResult:
    reported: int  # judgements the writer said were committed before it was killed
    missing: list[str]  # reported but not in the file (must be empty)
    wrong_pairs: list[str]  # judgements whose pairs are not exactly those of their ranking


def kill_trial(project: Path, seed: int, rng: random.Random, max_delay_s: float = 0.15) -> TrialResult:
    """Start a writer, SIGKILL it at a random moment after its first commit, check the file."""
    with open_store(project) as store:
        (last_id_before,) = store.conn.execute("SELECT COALESCE(MAX(id), 0) FROM judgements").fetchone()
    writer = start_writer(project, seed)
    lines: list[str] = []
    first_commit = threading.Event()

    def read_stdout() -> None:
        for line in writer.stdout:
            lines.append(line)
            first_commit.set()

    reader = threading.Thread(target=read_stdout)
    reader.start()
    if not first_commit.wait(timeout=60):
        writer.kill()
        raise RuntimeError(f"the writer never committed: {writer.stderr.read()}")
    time.sleep(rng.uniform(0, max_delay_s))
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    reader.join()
    writer.stdout.close()
    writer.stderr.close()
    # Only whole lines count: a line cut by the kill was never fully reported.
    reported = dict(line.split() for line in lines if line.endswith("\n"))
    return check_project(project, reported, after_id=last_id_before)


def check_project(project: Path, reported: dict[str, str], after_id: int = 0) -> TrialResult:
    """Every reported judgement present with its pair count, and every judgement written after
    `after_id` has exactly its ranking's pairs (the earlier ones were checked before)."""
    with open_store(project) as store:
        present = dict(
            store.conn.execute(
                "SELECT j.uuid, COUNT(p.id) FROM judgements j LEFT JOIN pairs p ON p.judgement_id = j.id GROUP BY j.id"
            ).fetchall()
        )
        missing = [u for u, pairs in reported.items() if present.get(u) != int(pairs)]
        wrong = []
        for uuid, tiers, strengths in store.conn.execute(
            "SELECT uuid, tiers, strengths FROM judgements WHERE outcome = 'ranked' AND id > ?", [after_id]
        ):
            expected = set(ranking_to_pairs(Ranking.of(json.loads(tiers), json.loads(strengths))))
            if set(store.judgement_pairs(uuid)) != expected:
                wrong.append(uuid)
    return TrialResult(len(reported), missing, wrong)


def integrity(project: Path) -> str:
    conn = sqlite3.connect(project)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="record random judgements, printing each after commit")
    parser.add_argument("project", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int)
    parser.add_argument("--annotator", default="writer")
    args = parser.parse_args()
    writer_main(args.project, args.seed, args.count, args.annotator)
