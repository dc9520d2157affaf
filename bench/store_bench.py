"""Store benchmark: durable save of a K=9 judgement (36 pairs), and `stats` on a large project.

    python bench/store_bench.py [--saves 1000] [--prompts 100000] [--pairs 1000000]

Prints a markdown table for BENCHMARKS.md. Goal: p95 of a durable save <= 5 ms.
A save is `Store.record_judgement`: BEGIN IMMEDIATE, the judgement row, its 36 pairs, COMMIT with
synchronous=FULL in WAL mode (the commit is on disk when it returns).
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from labeler.domain import Judgement, Ranking, ranking_to_pairs
from labeler.store import NewAnswer, answers_hash, content_hash, open_store, text_hash, utc_now
from labeler.store.judgement_rows import ids_column, insert_pairs, ranking_columns
from labeler.store.judgement_rows import pair_rows as judgement_pair_rows

K = 9


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_saves(path: Path, saves: int, rng: random.Random) -> list[float]:
    """Milliseconds per durable save of a strict K=9 ranking (36 pairs)."""
    with open_store(path) as store:
        prompt_ids = store.prompt_ids()
        nine = []
        for _ in range(50):
            prompt_id, answer_ids = store.add_prompt(
                f"bench prompt {uuid.uuid4()}", [NewAnswer(f"answer {a} {uuid.uuid4()}") for a in range(K)]
            )
            nine.append((prompt_id, answer_ids))
        timings = []
        for i in range(saves):
            prompt_id, answer_ids = nine[i % len(nine)]
            order = rng.sample(answer_ids, K)
            judgement = Judgement.ranked(Ranking.of(order, [rng.randint(1, 3) for _ in range(K - 1)]))
            started = time.perf_counter()
            recorded = store.record_judgement(prompt_id, "bench", judgement, order, seconds_spent=10.0)
            timings.append((time.perf_counter() - started) * 1000)
            assert recorded.pairs == K * (K - 1) // 2
        del prompt_ids
    return timings


def generate_large_project(path: Path, prompts: int, pairs_wanted: int, rng: random.Random) -> float:
    """A project of `prompts` x 4 answers and about `pairs_wanted` pairs (K=4 rankings, 6 pairs each).

    Bulk-written in one transaction through the store's write door, with the same rows the
    store's own functions write (so the triggers and indexes are all in place and measured).
    """
    started = time.perf_counter()
    with open_store(path, create=True) as store:

        def fill(conn):
            now = utc_now()
            conn.executemany(
                "INSERT INTO annotators (id, name, created_at) VALUES (?, ?, ?)",
                [(a, f"annotator-{a}", now) for a in range(1, 11)],
            )
            conn.executemany(
                "INSERT INTO prompts (id, kind, content, content_hash, metadata, created_at) "
                "VALUES (?, 'text', ?, ?, '{}', ?)",
                ((p, f"prompt {p}", content_hash(f"prompt {p}"), now) for p in range(1, prompts + 1)),
            )
            conn.executemany(
                "INSERT INTO answers (id, prompt_id, text, text_hash, model, created_at) VALUES (?, ?, ?, ?, 'm', ?)",
                (
                    ((p - 1) * 4 + a, p, f"answer {a} of {p}", text_hash(f"answer {a} of {p}"), now)
                    for p in range(1, prompts + 1)
                    for a in range(1, 5)
                ),
            )
            judgements = -(-pairs_wanted // 6)  # at least pairs_wanted pairs
            seq = dict.fromkeys(range(1, 11), 0)
            judgement_rows, pair_rows = [], []
            for j in range(1, judgements + 1):
                prompt_id = (j - 1) % prompts + 1
                answer_ids = [(prompt_id - 1) * 4 + a for a in range(1, 5)]
                order = rng.sample(answer_ids, 4)
                ranking = Ranking.of(order)
                annotator = (j - 1) // prompts % 10 + 1
                seq[annotator] += 1
                judgement_rows.append(
                    (
                        j,
                        str(uuid.uuid4()),
                        prompt_id,
                        annotator,
                        seq[annotator],
                        now,
                        "ranked",
                        *ranking_columns(ranking).values(),  # tiers, strengths, stated_strengths
                        ids_column(order),
                        answers_hash(f"answer {a}" for a in order),
                    )
                )
                pair_rows.extend(judgement_pair_rows(j, prompt_id, ranking_to_pairs(ranking)))
            conn.executemany(
                "INSERT INTO judgements (id, uuid, prompt_id, annotator_id, seq, created_at, outcome, tiers, "
                "strengths, stated_strengths, display_order, answers_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                judgement_rows,
            )
            insert_pairs(conn, pair_rows)

        store.write(fill)
    return time.perf_counter() - started


def time_stats(path: Path, repeats: int = 5) -> tuple[float, float, dict]:
    """Median seconds of Store.stats() in process, and of the `labeler stats --json` command."""
    with open_store(path) as store:
        in_process = []
        for _ in range(repeats):
            started = time.perf_counter()
            stats = store.stats()
            in_process.append(time.perf_counter() - started)
    command = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "labeler"), "stats", str(path), "--json"],
            check=True,
            capture_output=True,
        )
        command.append(time.perf_counter() - started)
    return statistics.median(in_process), statistics.median(command), stats.__dict__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=1000)
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        small = Path(folder) / "small.db"
        open_store(small, create=True).close()
        small_saves = time_saves(small, args.saves, rng)

        large = Path(folder) / "large.db"
        generated_s = generate_large_project(large, args.prompts, args.pairs, rng)
        stats_s, stats_command_s, stats = time_stats(large)
        large_saves = time_saves(large, args.saves, rng)
        size_mb = large.stat().st_size / 1e6

    print(
        f"store bench — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {platform.node()} — "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"SQLite {__import__('sqlite3').sqlite_version}"
    )
    print()
    print("| measure | value | goal |")
    print("|---|---|---|")
    for label, timings in [("empty project", small_saves), (f"{stats['pairs']:,}-pair project", large_saves)]:
        print(f"| durable save K=9 (36 pairs), {label}: p50 | {percentile(timings, 0.50):.2f} ms | |")
        print(f"| durable save K=9 (36 pairs), {label}: p95 | {percentile(timings, 0.95):.2f} ms | ≤ 5 ms |")
        print(
            f"| durable save K=9 (36 pairs), {label}: p99 / max | "
            f"{percentile(timings, 0.99):.2f} / {max(timings):.2f} ms | |"
        )
    print(
        f"| `Store.stats()` on {stats['prompts']:,} prompts × 4 answers, {stats['pairs']:,} pairs "
        f"(median of 5) | {stats_s * 1000:.0f} ms | |"
    )
    print(
        f"| `labeler stats --json` command, same project, wall time incl. start-up (median of 5) "
        f"| {stats_command_s * 1000:.0f} ms | |"
    )
    print(f"| generating that project ({size_mb:.0f} MB) in one transaction | {generated_s:.1f} s | |")
    print()
    print(f"saves timed: {args.saves} per project")


if __name__ == "__main__":
    main()
