"""Durability trials shared by the suite (tests/test_durability.py) and bench/kill_bench.py.

Run as a script this is a *writer*: it records random judgements into a project and prints
"UUID PAIRS" on stdout after each commit returns. With --like-app it is an *app-like* writer: it
also opens and closes short-lived stores for jobs meanwhile, as the app's window does.

The functions below start writers, kill them with SIGKILL at random moments, and check that every
judgement a writer reported is in the file with all its pairs. A *mixed* trial kills an app-like
writer while the commands a user runs beside the app use the same file (its *companions*: stats,
export, snapshot, import, the trainer's snapshot), and watches that the writer's -wal and -shm
files are never unlinked while it is connected (issue 14).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from labeler.domain import Judgement, Ranking, ranking_to_pairs
from labeler.store import NewAnswer, Store, open_store
from labeler.ui.progress import Progress

WRITER = Path(__file__).resolve()
LABELER = Path(sys.executable).parent / "labeler"  # the console script, as a user runs it

JOB_AFTER_SAVE_CHANCE = 0.3  # a save followed at once by a job (the app recounts, refreshes its stats line)
MAX_PAUSE_BETWEEN_JOBS_S = 0.02
JOB_FAILED = "job failed:"  # how the app-like writer starts the stderr line saying so

COMPANIONS = ("stats", "export", "snapshot", "import", "trainer snapshot")
EXPORT_FORMATS = (("trl", ".jsonl"), ("rankings", ".jsonl"), ("csv", ".csv"))
TRAINER_SNAPSHOT = "import sys; from trainer.data import snapshot_project; snapshot_project(sys.argv[1], sys.argv[2])"
PROMPTS_PER_IMPORT = 3
IMPORT_KILL_CHANCE = 0.5
MAX_IMPORT_LIFE_S = 0.3  # a killed import is killed this long after it started, at most


def make_writer_project(path: Path, prompts: int = 30, answers: int = 9) -> None:
    with open_store(path, create=True) as store:
        for p in range(prompts):
            store.add_prompt(
                f"durability prompt {p}",
                [NewAnswer(f"answer {a} of prompt {p} " + "text " * (a * 20)) for a in range(answers)],
            )


def make_mixed_project(path: Path) -> None:
    """make_writer_project with one ranking in it: an export refuses a project with nothing to export."""
    make_writer_project(path)
    with open_store(path) as store:
        prompt_id = store.prompt_ids()[0]
        shown = [answer.id for answer in store.prompt(prompt_id).answers][:2]
        store.record_judgement(prompt_id, "first", Judgement.ranked(Ranking.of(shown)), shown)


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
    with open_store(project) as store:
        record_random_judgements(store, random.Random(seed), count, annotator)


def app_like_writer_main(project: Path, seed: int, count: int | None, annotator: str) -> None:
    """writer_main the way the app's window does it: while its main store is open, jobs open stores
    of their own on a worker thread (labeler/ui/jobs.py), and some saves are followed by one at once.
    Closing such a store must leave the main store's locks in place (issue 14)."""
    after_save_rng = random.Random(seed + 1)

    def after_save() -> None:
        if after_save_rng.random() < JOB_AFTER_SAVE_CHANCE:
            run_job(project, annotator, after_save_rng)

    with open_store(project) as store, jobs_on_a_worker_thread(project, annotator, random.Random(seed + 2)):
        record_random_judgements(store, random.Random(seed), count, annotator, after_save)


def record_random_judgements(
    store: Store,
    rng: random.Random,
    count: int | None,
    annotator: str,
    after_save: Callable[[], None] = lambda: None,
) -> None:
    prompts = [(p, [a.id for a in store.prompt(p).answers]) for p in store.prompt_ids()]
    written = 0
    while count is None or written < count:
        prompt_id, answer_ids = rng.choice(prompts)
        judgement, shown = random_judgement(rng, answer_ids)
        recorded = store.record_judgement(prompt_id, annotator, judgement, shown, seconds_spent=rng.random() * 60)
        print(recorded.uuid, recorded.pairs, flush=True)
        written += 1
        after_save()


def run_job(project: Path, annotator: str, rng: random.Random) -> None:
    """One of the app's jobs: a store of its own, the counts the window shows, the store closed.
    A job that fails is reported and the app goes on (labeler/ui/jobs.py): here on stderr."""
    try:
        with open_store(project) as store:
            if rng.random() < 0.5:
                store.stats()  # the status bar's line
            else:
                Progress.count_with_mark(store, annotator)
    except Exception as error:
        print(JOB_FAILED, type(error).__name__, error, file=sys.stderr, flush=True)


@contextmanager
def jobs_on_a_worker_thread(project: Path, annotator: str, rng: random.Random) -> Iterator[None]:
    stop = threading.Event()
    worker = threading.Thread(target=_run_jobs_until, args=(stop, project, annotator, rng))
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join()


def _run_jobs_until(stop: threading.Event, project: Path, annotator: str, rng: random.Random) -> None:
    while not stop.wait(rng.uniform(0, MAX_PAUSE_BETWEEN_JOBS_S)):
        run_job(project, annotator, rng)


def start_writer(
    project: Path, seed: int, count: int | None = None, annotator: str = "writer", like_app: bool = False
) -> subprocess.Popen:
    command = [sys.executable, str(WRITER), str(project), "--seed", str(seed), "--annotator", annotator]
    if count is not None:
        command += ["--count", str(count)]
    if like_app:
        command.append("--like-app")
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class WriterOutput:
    """A writer's stdout, read on a thread as it comes: whether it has committed yet, and once it
    has ended, the judgements it reported (and its stderr)."""

    def __init__(self, writer: subprocess.Popen):
        self.writer = writer
        self.lines: list[str] = []
        self.first_line_or_end = threading.Event()
        self.errors = ""
        self.reader = threading.Thread(target=self._read)
        self.reader.start()

    def _read(self) -> None:
        for line in self.writer.stdout:
            self.lines.append(line)
            self.first_line_or_end.set()
        self.first_line_or_end.set()

    def wait_for_first_commit(self, timeout_s: float = 60) -> None:
        if not self.first_line_or_end.wait(timeout_s) or not self.lines:
            self.writer.kill()
            raise RuntimeError(f"the writer never committed: {self.writer.stderr.read()}")

    def finish(self) -> dict[str, str]:
        """Once the writer has ended: uuid -> pairs of every judgement it reported."""
        self.reader.join()
        self.errors = self.writer.stderr.read()
        self.writer.stdout.close()
        self.writer.stderr.close()
        # Only whole lines count: a line cut by the kill was never fully reported.
        return dict(line.split() for line in self.lines if line.endswith("\n"))


@dataclass
class TrialResult:
    reported: int  # judgements the writer said were committed before it was killed
    missing: list[str]  # reported but not in the file (must be empty)
    wrong_pairs: list[str]  # judgements whose pairs are not exactly those of their ranking


def kill_trial(project: Path, seed: int, rng: random.Random, max_delay_s: float = 0.15) -> TrialResult:
    """Start a writer, SIGKILL it at a random moment after its first commit, check the file."""
    last_id_before = last_judgement_id(project)
    writer = start_writer(project, seed)
    output = WriterOutput(writer)
    output.wait_for_first_commit()
    time.sleep(rng.uniform(0, max_delay_s))
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    return check_project(project, output.finish(), after_id=last_id_before)


def last_judgement_id(project: Path) -> int:
    with open_store(project) as store:
        return store.conn.execute("SELECT COALESCE(MAX(id), 0) FROM judgements").fetchone()[0]


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
        for uuid, tiers, stated_strengths in store.conn.execute(
            "SELECT uuid, tiers, stated_strengths FROM judgements WHERE outcome = 'ranked' AND id > ?", [after_id]
        ):
            expected = set(ranking_to_pairs(Ranking.of(json.loads(tiers), json.loads(stated_strengths))))
            if set(store.judgement_pairs(uuid)) != expected:
                wrong.append(uuid)
    return TrialResult(len(reported), missing, wrong)


def integrity(project: Path) -> str:
    """PRAGMA integrity_check's first line: "ok", or what is wrong (also when SQLite cannot even check)."""
    conn = sqlite3.connect(project)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as error:  # "database disk image is malformed"
        return str(error)
    finally:
        conn.close()


class WalWatch:
    """While entered, samples a process that holds the project open (Linux: /proc/PID/fd) for the
    one thing that must never happen to it: its -wal or -shm file unlinked. SQLite deletes them when
    the last connection closes; if another process does it under a live connection (it believed it
    was the last one, issue 14), what that connection commits goes into a deleted file.

    `unlinked` says what was seen: a descriptor of the process on a deleted -wal or -shm, or the
    -wal name gone or naming another file than when the watch began (the process holds that file
    open, so a new one cannot have its inode)."""

    def __init__(self, pid: int, project: Path, interval_s: float = 0.01):
        self.descriptors = Path(f"/proc/{pid}/fd")
        self.project = os.path.realpath(project)
        self.interval_s = interval_s
        self.unlinked: set[str] = set()
        self.samples = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch)

    def __enter__(self) -> WalWatch:
        self.wal_inode = self._wal_inode()
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self.thread.join()

    def _watch(self) -> None:
        while self._sample() and not self.stopping.wait(self.interval_s):
            pass

    def _sample(self) -> bool:
        """Look once; False once the process is gone."""
        try:
            descriptors = os.listdir(self.descriptors)
        except FileNotFoundError:
            return False
        for descriptor in descriptors:
            try:
                target = os.readlink(self.descriptors / descriptor)
            except FileNotFoundError:  # closed meanwhile
                continue
            for suffix in ("-wal", "-shm"):
                if target == f"{self.project}{suffix} (deleted)":
                    self.unlinked.add(f"its {suffix} file was unlinked")
        inode = self._wal_inode()
        if inode is None:
            self.unlinked.add("the -wal file was gone")
        elif inode != self.wal_inode:
            self.unlinked.add("the -wal name named another file")
        self.samples += 1
        return True

    def _wal_inode(self) -> int | None:
        try:
            return os.stat(f"{self.project}-wal").st_ino
        except FileNotFoundError:
            return None


def companion_command(kind: str, project: Path, folder: Path, rng: random.Random) -> list[str | Path]:
    """The command line of one companion, writing what it writes into `folder`."""
    if kind == "stats":
        return [LABELER, "stats", project, "--json"]
    if kind == "export":
        fmt, suffix = rng.choice(EXPORT_FORMATS)
        return [LABELER, "export", project, folder / f"export{suffix}", "--format", fmt]
    if kind == "snapshot":
        return [LABELER, "snapshot", project, folder / "snapshot.db"]
    if kind == "import":
        return [LABELER, "import", project, write_new_prompts(folder / "new.jsonl", tag=folder.name)]
    if kind == "trainer snapshot":
        return [sys.executable, "-c", TRAINER_SNAPSHOT, project, folder]
    raise ValueError(f"no such companion: {kind}")


def write_new_prompts(path: Path, tag: str) -> Path:
    """A small import file of prompts new to the project, their external ids `tag`-0, `tag`-1, ..."""
    rows = [
        {"id": f"{tag}-{i}", "prompt": f"prompt {i} of {tag}", "answers": [f"first of {i}", f"second of {i}"]}
        for i in range(PROMPTS_PER_IMPORT)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@dataclass
class CompanionLog:
    runs: Counter[str] = field(default_factory=Counter)  # commands run, by kind (the killed ones too)
    failures: list[str] = field(default_factory=list)  # commands that failed on their own, and why
    imports_finished: list[str] = field(default_factory=list)  # tags of imports that said they were done
    imports_killed: list[str] = field(default_factory=list)  # tags of imports killed with SIGKILL


class Companions:
    """The commands a user runs beside the app on its project (real subprocesses of the console
    scripts), one after another on a thread until the context is left, which waits for the one
    running. Every kind runs once a round, in a random order. With `kill_imports`, some imports are
    killed with SIGKILL at a random moment: a writer killed midway, beside the app."""

    def __init__(self, project: Path, scratch: Path, rng: random.Random, name: str, kill_imports: bool = False):
        self.project = project
        self.scratch = scratch
        self.rng = rng
        self.name = name  # unique in `scratch` and among the project's imports
        self.kill_imports = kill_imports
        self.log = CompanionLog()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run_until_stopped)

    def __enter__(self) -> Companions:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self.thread.join()

    def _run_until_stopped(self) -> None:
        rounds = (self.rng.sample(COMPANIONS, len(COMPANIONS)) for _ in itertools.count())
        kinds = itertools.chain.from_iterable(rounds)
        while not self.stopping.is_set():
            self.run(next(kinds))

    def run(self, kind: str) -> None:
        """Run one companion to its end (an import to be killed: until its moment), log how it ended."""
        folder = self.scratch / f"{self.name}-{self.log.runs.total()}"
        folder.mkdir()
        command = companion_command(kind, self.project, folder, self.rng)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        to_kill = kind == "import" and self.kill_imports and self.rng.random() < IMPORT_KILL_CHANCE
        try:
            _, errors = process.communicate(timeout=self.rng.uniform(0, MAX_IMPORT_LIFE_S) if to_kill else None)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            _, errors = process.communicate()
        self._log(kind, folder.name, process.returncode, errors)
        shutil.rmtree(folder)

    def _log(self, kind: str, tag: str, returncode: int, errors: str) -> None:
        self.log.runs[kind] += 1
        if returncode == -signal.SIGKILL:
            self.log.imports_killed.append(tag)
        elif returncode != 0:
            self.log.failures.append(f"{kind}: exit status {returncode}: {errors.strip()}")
        elif kind == "import":
            self.log.imports_finished.append(tag)


def imports_not_whole(project: Path, log: CompanionLog) -> list[str]:
    """Imports whose prompts are not all in the file: a finished import must have added every one
    of its prompts, a killed one all or none (it is one transaction)."""
    allowed = [(tag, "finished", {PROMPTS_PER_IMPORT}) for tag in log.imports_finished]
    allowed += [(tag, "killed", {0, PROMPTS_PER_IMPORT}) for tag in log.imports_killed]
    not_whole = []
    with open_store(project) as store:
        for tag, ending, counts in allowed:
            query = "SELECT COUNT(*) FROM prompts WHERE external_id GLOB ?"
            (present,) = store.conn.execute(query, [f"{tag}-*"]).fetchone()
            if present not in counts:
                not_whole.append(f"{ending} import {tag}: {present} of its {PROMPTS_PER_IMPORT} prompts")
    return not_whole


@dataclass
class MixedTrialResult:
    judgements: TrialResult
    integrity: str  # PRAGMA integrity_check afterwards
    companions: CompanionLog
    imports_not_whole: list[str]
    unlinked_while_connected: set[str]  # what WalWatch saw of the writer's -wal and -shm
    fd_samples: int  # how many times WalWatch looked (0: not on Linux, nothing was watched)
    writer_exit_status: int  # -SIGKILL unless it ended on its own before the kill
    writer_errors: list[str]  # the writer's stderr: its failed jobs, or why it stopped

    @property
    def writer_ended_on_its_own(self) -> bool:
        return self.writer_exit_status != -signal.SIGKILL

    @property
    def failed_jobs(self) -> list[str]:
        return [line for line in self.writer_errors if line.startswith(JOB_FAILED)]

    def problems(self) -> list[str]:
        """Everything that went wrong, in words: empty if nothing did."""
        judgements = self.judgements
        found = [f"while the writer was connected, {seen}" for seen in sorted(self.unlinked_while_connected)]
        if self.writer_ended_on_its_own:
            last_words = self.writer_errors[-1] if self.writer_errors else "nothing on stderr"
            found.append(f"the writer ended on its own (exit status {self.writer_exit_status}): {last_words}")
        if self.failed_jobs:
            found.append(f"{len(self.failed_jobs)} of the writer's jobs failed, the first: {self.failed_jobs[0]}")
        if judgements.missing:
            found.append(f"{len(judgements.missing)} of {judgements.reported} reported judgements missing")
        if judgements.wrong_pairs:
            found.append(f"{len(judgements.wrong_pairs)} judgements without exactly their ranking's pairs")
        if self.integrity != "ok":
            found.append(f"integrity_check: {self.integrity}")
        found += [f"a companion failed: {failure}" for failure in self.companions.failures]
        return found + self.imports_not_whole


def mixed_trial(
    project: Path, seed: int, rng: random.Random, scratch: Path, max_delay_s: float = 1.5, kill_imports: bool = True
) -> MixedTrialResult:
    """An app-like writer and the companions on one project. The writer is watched from its first
    commit until it is killed with SIGKILL at a random moment after it; then the companions are
    stopped and the file is checked. A writer that ended on its own is a problem of the result,
    not an error: what it reported before is still checked."""
    last_id_before = last_judgement_id(project)
    writer = start_writer(project, seed, like_app=True)
    output = WriterOutput(writer)
    with Companions(project, scratch, random.Random(seed), f"companion-{seed}", kill_imports) as companions:
        try:
            output.wait_for_first_commit()
            with WalWatch(writer.pid, project) as watch:
                time.sleep(rng.uniform(0, max_delay_s))
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
    reported = output.finish()
    return MixedTrialResult(
        judgements=check_project(project, reported, after_id=last_id_before),
        integrity=integrity(project),
        companions=companions.log,
        imports_not_whole=imports_not_whole(project, companions.log),
        unlinked_while_connected=watch.unlinked,
        fd_samples=watch.samples,
        writer_exit_status=writer.returncode,
        writer_errors=output.errors.splitlines(),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="record random judgements, printing each after commit")
    parser.add_argument("project", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int)
    parser.add_argument("--annotator", default="writer")
    parser.add_argument("--like-app", action="store_true", help="also open and close stores for jobs, as the app")
    args = parser.parse_args()
    main = app_like_writer_main if args.like_app else writer_main
    main(args.project, args.seed, args.count, args.annotator)
