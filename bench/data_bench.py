"""Data bench: `labeler import` of prompts with answers, and `labeler export` of a large project.

    python bench/data_bench.py [--prompts 100000] [--pairs 1000000] [--quick] [--profile] [--skip-export]

Prints a markdown table for BENCHMARKS.md. Goals: an import of a jsonl file of prompts × 4 answers
runs at >= 50,000 answers/s, and `labeler export PROJECT OUT.parquet` of 1,000,000 pairs takes <= 10 s.

Commands are run as the real console script (`labeler`, beside this Python) in a subprocess, so
the times include start-up, opening the project and the final commit; memory is the command's peak
RSS (the largest of its processes: `labeler import` reads big files in a second process). The import
is also taken apart in process, one step after the other as import_files does them when it reads in
this process: reading (read_rows), checking (rows.plain_prompt_row, parse_row for other shapes),
preparing the chunks (importer._add: encoding, hashes, the id check) and the store write
(import_prepared, written in bulk as a big import is).

The export project is built as bench/store_bench.py builds its large project (one bulk transaction),
then its prompts and answers are given texts of realistic length (prompts 50-300 characters,
answers 200-600), because a pair row carries the full texts of its prompt and both answers.
With --profile, cProfile of the in-process import and export follows the table.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_bench import generate_large_project

from labeler.formats import importer
from labeler.formats.export import export_project
from labeler.formats.plain_rows import plain_prompt_row
from labeler.formats.reading import read_rows
from labeler.formats.rows import parse_row
from labeler.formats.source_rows import SourceRow
from labeler.store import content_hash, open_store, text_hash
from labeler.store.importing import PreparedChunk, external_id_owners, import_prepared

LABELER = Path(sys.executable).parent / "labeler"
ANSWERS_PER_PROMPT = 4
MODELS = ("sft-v1", "sft-v2", "ppo-step-400", "reference")
IMPORT_GOAL = 50_000  # answers/s
EXPORT_GOAL = 10.0  # seconds for 1,000,000 pairs

# Words for texts that look like model answers: prose, a little code, quotes, accents and newlines,
# so the JSON has escapes and non-ASCII to decode, as real data does.
_WORDS = (
    "the a of to and in is that it for as with was on be by this are or from at which but not have an "
    "can model answer question example function value data result first however because therefore "
    "returns list string number users should would could also more than only each other use using "
    "step then when where there here these those into about over after before between through "
    "température naïve café résumé straße déjà-vu "
    "`x = 1` `return None` `for i in range(n):` `print(value)` "
    "don't can't it's \"quoted\" (see below) e.g. i.e. 42 3.14 2026 100% $5 — – …"
)
WORDS = tuple(_WORDS.split())


# -- texts -----------------------------------------------------------------------------------------


class TextMaker:
    """Varied texts cut from one long random corpus at word boundaries (fast, and never two alike)."""

    def __init__(self, rng: random.Random, corpus_chars: int = 4_000_000):
        self.rng = rng
        pieces: list[str] = []
        size = 0
        while size < corpus_chars:
            word = rng.choice(WORDS)
            end = rng.random()
            if end < 0.06:
                word += ".\n\n" if end < 0.015 else ". "
            elif end < 0.09:
                word += ","
            pieces.append(word)
            size += len(word) + 1
        self.corpus = " ".join(pieces).replace("\n\n ", "\n\n")

    def text(self, low: int, high: int) -> str:
        length = self.rng.randint(low, high)
        start = self.corpus.find(" ", self.rng.randrange(len(self.corpus) - high - 200)) + 1
        end = self.corpus.find(" ", start + length)
        return self.corpus[start:end].strip()

    def answers(self, count: int) -> list[str]:
        texts: list[str] = []
        while len(texts) < count:
            text = self.text(200, 600)
            if text not in texts:
                texts.append(text)
        return texts


def write_jsonl(path: Path, prompts: int, rng: random.Random) -> float:
    """`prompts` rows {"id", "prompt", "answers": [{"text", "model"} x 4]}; returns the seconds taken."""
    started = time.perf_counter()
    maker = TextMaker(rng)
    with path.open("w", encoding="utf-8") as out:
        for p in range(prompts):
            row = {
                "id": f"q-{p:07d}",
                "prompt": f"Question {p}: {maker.text(50, 300)}?",
                "answers": [
                    {"text": text, "model": MODELS[a]} for a, text in enumerate(maker.answers(ANSWERS_PER_PROMPT))
                ],
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return time.perf_counter() - started


# -- running commands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    stdout: str


def run_labeler(*args: str | Path, folder: Path) -> Run:
    """Run `labeler ARGS` and wait for it; wall seconds and peak RSS (wait4: the largest of the command's
    process and the processes it started and waited for, such as the import's reader)."""
    log = folder / "command.log"
    with log.open("w+", encoding="utf-8") as out:
        started = time.perf_counter()
        process = subprocess.Popen([str(LABELER), *map(str, args)], stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    log.unlink()
    if process.returncode != 0:
        raise SystemExit(f"labeler {' '.join(map(str, args))} failed ({process.returncode}):\n{output}")
    return Run(seconds, usage.ru_maxrss / 1024, output)  # ru_maxrss is in KiB on Linux


def import_counts(output: str) -> dict[str, int]:
    """The counts from `labeler import`'s summary line."""
    found = re.search(
        r"read ([\d,]+) rows: added ([\d,]+) prompts, ([\d,]+) answers, ([\d,]+) judgements.* and ([\d,]+) pairs",
        output,
    )
    if found is None:
        raise SystemExit(f"unexpected output of labeler import: {output!r}")
    names = ("rows", "prompts", "answers", "judgements", "pairs")
    return {name: int(value.replace(",", "")) for name, value in zip(names, found.groups(), strict=True)}


# -- import ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    first: Run
    first_counts: dict[str, int]
    again: Run
    again_counts: dict[str, int]
    phases: dict[str, float]  # in process, one after the other: read, parse, batch, write (seconds)
    cores: tuple[float, float]  # cores_available() just before and just after the first import


def time_in_process_import(project: Path, jsonl: Path) -> dict[str, float]:
    """The import taken apart on a fresh project, all in this process: the reading loop of importer
    (streaming, one row at a time) with a clock around each step, then the store write of the chunks."""
    phases = dict.fromkeys(("read", "parse", "batch", "write"), 0.0)
    clock = time.perf_counter
    with open_store(project) as store:
        checks = importer._Checks(lambda: external_id_owners(store.conn))
        chunks = [PreparedChunk(jsonl.name)]
        rows = iter(read_rows(jsonl, "jsonl"))
        while True:
            started = clock()
            row = next(rows, None)
            read = clock()
            phases["read"] += read - started
            if row is None:
                break
            assert isinstance(row, SourceRow), row
            # As the importer does: the common rows in one step, the others through parse_row.
            plain = plain_prompt_row(row.data)
            item = parse_row(row.data, "jsonl") if plain is None else None
            parsed = clock()
            # What the reading side does with each checked row: the prepared prompt (texts encoded,
            # hashes), and the check that one id names one prompt (which reads the project's ids once).
            if len(chunks[-1].prompts) == importer._CHUNK_ROWS:
                chunks.append(PreparedChunk(jsonl.name))
            if plain is None:
                importer._add(checks, chunks[-1], item, None, row.file, row.line)
            else:
                importer._add_plain(checks, chunks[-1], plain, row.file, row.line, prepare=True)
            phases["parse"] += parsed - read
            phases["batch"] += clock() - parsed

        started = clock()
        counts = import_prepared(store, lambda project_ids: iter(chunks), big=True)
        phases["write"] = clock() - started
    assert counts.answers_added == sum(len(chunk.prompts) for chunk in chunks) * ANSWERS_PER_PROMPT, counts
    return phases


# A CPU-bound loop that prints how long it ran (start-up excluded).
_SPIN = "import time; t = time.perf_counter(); sum(range(20_000_000)); print(time.perf_counter() - t)"


def cores_available() -> float:
    """How many of its cores the machine gives right now: the same CPU-bound loop in two processes at
    once against one alone (2.0: both cores free; 1.0: two processes go as slowly as if there were
    one). A big import reads and writes in two processes, so its time follows this; the vCPUs of
    this machine have been seen to give anything from 1.0 to 2.0 within an hour."""

    def slowest_of(processes: int) -> float:
        spins = [
            subprocess.Popen([sys.executable, "-c", _SPIN], stdout=subprocess.PIPE, text=True) for _ in range(processes)
        ]
        return max(float(spin.communicate()[0]) for spin in spins)

    return 2 * slowest_of(1) / slowest_of(2)


def bench_import(folder: Path, jsonl: Path) -> ImportResult:
    project = folder / "import.db"
    run_labeler("init", project, folder=folder)
    cores = cores_available()
    first = run_labeler("import", project, jsonl, folder=folder)
    cores = (cores, cores_available())
    again = run_labeler("import", project, jsonl, folder=folder)
    again_counts = import_counts(again.stdout)
    if any(again_counts[name] for name in ("prompts", "answers", "judgements", "pairs")):
        raise SystemExit(f"the re-import added something: {again.stdout}")
    project.unlink()

    fresh = folder / "import-in-process.db"
    run_labeler("init", fresh, folder=folder)
    phases = time_in_process_import(fresh, jsonl)
    fresh.unlink()
    return ImportResult(first, import_counts(first.stdout), again, again_counts, phases, cores)


# -- export ----------------------------------------------------------------------------------------


def give_realistic_texts(path: Path, rng: random.Random) -> float:
    """Replace the generated project's short prompts and answers with texts of realistic length
    (prompts and answers are not append-only; hashes are kept consistent). Returns seconds."""
    started = time.perf_counter()
    maker = TextMaker(rng)
    with open_store(path) as store:

        def fill(conn: sqlite3.Connection) -> None:
            prompt_ids = [row[0] for row in conn.execute("SELECT id FROM prompts ORDER BY id")]
            prompt_rows = []
            for p in prompt_ids:
                content = f"Question {p}: {maker.text(50, 300)}?"
                prompt_rows.append((content, content_hash(content), p))
            conn.executemany("UPDATE prompts SET content = ?, content_hash = ? WHERE id = ?", prompt_rows)
            answer_rows = []
            for ids in _answers_by_prompt(conn).values():
                for answer_id, text in zip(ids, maker.answers(len(ids)), strict=True):
                    answer_rows.append((text, text_hash(text), MODELS[answer_id % len(MODELS)], answer_id))
            conn.executemany("UPDATE answers SET text = ?, text_hash = ?, model = ? WHERE id = ?", answer_rows)

        store.write(fill)
    return time.perf_counter() - started


def _answers_by_prompt(conn: sqlite3.Connection) -> dict[int, list[int]]:
    answers: dict[int, list[int]] = {}
    for answer_id, prompt_id in conn.execute("SELECT id, prompt_id FROM answers ORDER BY id"):
        answers.setdefault(prompt_id, []).append(answer_id)
    return answers


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def dataset_dict_rows(path: Path) -> dict[str, int]:
    from datasets import load_from_disk

    return {name: split.num_rows for name, split in load_from_disk(str(path)).items()}


def folder_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


@dataclass(frozen=True)
class ExportResult:
    label: str
    run: Run
    rows: dict[str, int]
    size_mb: float


def bench_exports(folder: Path, project: Path) -> list[ExportResult]:
    results = []
    for label, name, options in [
        ("trl, all pairs → .parquet", "all.parquet", ()),
        ("trl, adjacent pairs → .parquet", "adjacent.parquet", ("--pairs", "adjacent")),
        ("trl, all pairs → DatasetDict folder, --test-fraction 0.1", "dataset", ("--test-fraction", "0.1")),
    ]:
        out = folder / name
        run = run_labeler("export", project, out, *options, folder=folder)
        rows = {"train": parquet_rows(out)} if out.suffix == ".parquet" else dataset_dict_rows(out)
        results.append(ExportResult(label, run, rows, folder_mb(out)))
        _remove(out)
    return results


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


# -- profiles --------------------------------------------------------------------------------------


def profile(call: Callable[[], object], lines: int = 15) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(lines)
    return text.getvalue()


def profile_import(folder: Path, jsonl: Path) -> str:
    project = folder / "profile-import.db"
    run_labeler("init", project, folder=folder)
    with open_store(project) as store:
        report = profile(lambda: importer.import_files(store, [jsonl], parallel=False))
    project.unlink()
    return report


def profile_export(folder: Path, project: Path) -> str:
    out = folder / "profile.parquet"
    with open_store(project) as store:
        report = profile(lambda: export_project(store, out))
    _remove(out)
    return report


# -- report ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportBench:
    exports: list[ExportResult]
    short_export: Run
    short_rows: int
    pairs_in_project: int
    large_mb: float
    generated_s: float
    texts_s: float


def bench_export_project(folder: Path, args: argparse.Namespace, rng: random.Random, profiles: dict) -> ExportBench:
    large = folder / "export.db"
    generated_s = generate_large_project(large, args.prompts, args.pairs, rng)
    short_export = run_labeler("export", large, folder / "short.parquet", folder=folder)
    short_rows = parquet_rows(folder / "short.parquet")
    _remove(folder / "short.parquet")
    texts_s = give_realistic_texts(large, rng)
    with open_store(large) as store:
        pairs_in_project = store.conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0]
    large_mb = large.stat().st_size / 1e6
    exports = bench_exports(folder, large)
    if args.profile:
        profiles["export_project, trl, all pairs → .parquet (in process)"] = profile_export(folder, large)
    return ExportBench(exports, short_export, short_rows, pairs_in_project, large_mb, generated_s, texts_s)


def print_export_rows(export: ExportBench, args: argparse.Namespace) -> None:
    pairs_label = f"{export.pairs_in_project:,} pairs ({args.prompts:,} prompts × 4 answers, {export.large_mb:.0f} MB)"
    all_pairs = export.exports[0]
    print(
        f"| `labeler export` trl, all pairs → .parquet, {pairs_label}: wall | {all_pairs.run.seconds:.1f} s "
        f"| ≤ {EXPORT_GOAL:.0f} s {tick(all_pairs.run.seconds <= EXPORT_GOAL)} |"
    )
    for result in export.exports:
        rows = ", ".join(f"{split} {count:,}" for split, count in result.rows.items())
        print(
            f"| `labeler export` {result.label}: wall / rows / size / peak memory | {result.run.seconds:.1f} s / "
            f"{rows} / {result.size_mb:,.0f} MB / {result.run.peak_mb:,.0f} MB | |"
        )
    print(
        f"| same export (trl, all) with store_bench's short texts (~15 chars): wall / rows "
        f"| {export.short_export.seconds:.1f} s / {export.short_rows:,} | |"
    )


def tick(ok: bool) -> str:
    return "✔" if ok else "✘"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100_000, help="prompts (x 4 answers) to import and to export")
    parser.add_argument("--pairs", type=int, default=1_000_000, help="pairs in the export project")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--profile", action="store_true", help="also print cProfile of in-process import and export")
    parser.add_argument("--skip-export", action="store_true", help="measure the import only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.prompts, args.pairs = min(args.prompts, 2_000), min(args.pairs, 20_000)
    rng = random.Random(args.seed)
    profiles: dict[str, str] = {}

    with tempfile.TemporaryDirectory(dir=Path.cwd(), prefix="data-bench-") as name:
        folder = Path(name)
        jsonl = folder / "prompts.jsonl"
        generated_jsonl_s = write_jsonl(jsonl, args.prompts, rng)
        # On disk before the clock starts, as a file a user imports usually is: else the kernel
        # writes its 205 MB back during the import, competing for the disk with the import's syncs.
        os.sync()
        jsonl_mb = jsonl.stat().st_size / 1e6
        imported = bench_import(folder, jsonl)
        if args.profile:
            profiles["import_files (in process, reading in this process too)"] = profile_import(folder, jsonl)
        jsonl.unlink()
        if not args.skip_export:
            export = bench_export_project(folder, args, rng, profiles)

    answers = args.prompts * ANSWERS_PER_PROMPT
    first, again, phases = imported.first, imported.again, imported.phases
    rate = answers / first.seconds
    in_process = sum(phases.values())
    print(
        f"data bench — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {platform.node()} — "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; load average at the end {os.getloadavg()[0]:.1f}"
    )
    print()
    print("| measure | value | goal |")
    print("|---|---|---|")
    what = f"{args.prompts:,} prompts × {ANSWERS_PER_PROMPT} answers ({jsonl_mb:.0f} MB jsonl)"
    print(f"| `labeler import` of {what}: wall | {first.seconds:.1f} s | |")
    print(f"| … answers per second | {rate:,.0f} /s | ≥ {IMPORT_GOAL:,} /s {tick(rate >= IMPORT_GOAL)} |")
    print(
        f"| … cores the machine gave, just before / just after (two CPU-bound processes against one; "
        f"2.0 = both free) | {imported.cores[0]:.2f} / {imported.cores[1]:.2f} | |"
    )
    print(f"| … peak memory of the command | {first.peak_mb:,.0f} MB | |")
    print(f"| … added | {imported.first_counts['prompts']:,} prompts, {imported.first_counts['answers']:,} answers | |")
    print(
        f"| same import again (adds nothing: {again.stdout.strip().split(': ', 1)[-1]}): wall "
        f"| {again.seconds:.1f} s ({answers / again.seconds:,.0f} answers/s) | |"
    )
    for phase, label in [
        ("read", "read_rows (read + strict JSON decode)"),
        ("parse", "checking rows (rows.plain_prompt_row; parse_row for other shapes)"),
        ("batch", "preparing the chunks (importer._add: UTF-8, hashes, id check)"),
        ("write", "import_prepared (one transaction in bulk, commit; answers hashed here)"),
    ]:
        print(f"| in process, serial: {label} | {phases[phase]:.1f} s ({phases[phase] / in_process:.0%}) | |")
    print(
        f"| in process, serial: total / command wall − in-process total (reading overlaps writing) | "
        f"{in_process:.1f} s / {first.seconds - in_process:+.1f} s | |"
    )

    if not args.skip_export:
        print_export_rows(export, args)
    print(f"| generating the jsonl | {generated_jsonl_s:.1f} s | |")
    if not args.skip_export:
        print(
            f"| generating the export project / giving it realistic texts | {export.generated_s:.1f} s / "
            f"{export.texts_s:.1f} s | |"
        )
    print()
    print(
        "Texts: prompts 50–300 characters, answers 200–600 (words, code spans, quotes, accents, newlines); "
        "the jsonl rows carry an id. Peak memory is the largest max RSS of the command's processes."
    )
    if not args.skip_export and export.exports[0].rows["train"] < args.pairs:
        rows = export.exports[0].rows["train"]
        print(f"\nWARNING: the parquet export holds {rows:,} rows, fewer than {args.pairs:,}")
    for title, report in profiles.items():
        print(f"\n### cProfile: {title}, by cumulative time\n\n```\n{report.strip()}\n```")


if __name__ == "__main__":
    main()
