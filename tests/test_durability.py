"""Never lose a judgement: writers killed with SIGKILL, many writers at once, and the app killed
while the commands a user runs beside it use the same file."""

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers.durability import (
    COMPANIONS,
    JOB_FAILED,
    Companions,
    WalWatch,
    WriterOutput,
    check_project,
    integrity,
    kill_trial,
    make_mixed_project,
    make_writer_project,
    mixed_trial,
    start_writer,
)

from labeler.migrations import SCHEMA

pytestmark = pytest.mark.slow  # the whole module: see `make test-fast`

KILL_TRIALS = 50
WRITERS = 8
JUDGEMENTS_PER_WRITER = 300
MIXED_TRIALS = 12
READER_ROUNDS = 3

# The watch of a process's open files reads /proc/PID/fd.
watches_open_files = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")


@pytest.fixture
def writer_project(tmp_path):
    path = tmp_path / "durability.db"
    make_writer_project(path)
    return path


@pytest.fixture
def mixed_project(tmp_path):
    path = tmp_path / "mixed.db"
    make_mixed_project(path)
    return path


def test_a_writer_killed_at_random_moments_loses_no_reported_judgement(writer_project):
    rng = random.Random(20261129)
    reported = 0
    for trial in range(KILL_TRIALS):
        result = kill_trial(writer_project, seed=trial, rng=rng)
        assert result.missing == [], f"trial {trial}: reported judgements missing after SIGKILL"
        assert result.wrong_pairs == [], f"trial {trial}: a judgement without exactly its pairs"
        assert integrity(writer_project) == "ok"
        reported += result.reported
    # The kills landed while writing, not only before the first or after the last commit.
    assert reported > KILL_TRIALS


def test_eight_writers_at_once_lose_nothing(writer_project):
    writers = [
        start_writer(writer_project, seed=100 + i, count=JUDGEMENTS_PER_WRITER, annotator=f"writer-{i}")
        for i in range(WRITERS)
    ]
    reported = {}
    for writer in writers:
        out, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
        reported.update(line.split() for line in out.splitlines())
    assert len(reported) == WRITERS * JUDGEMENTS_PER_WRITER
    result = check_project(writer_project, reported)
    assert result.missing == []
    assert result.wrong_pairs == []
    assert integrity(writer_project) == "ok"

    conn = sqlite3.connect(writer_project)
    per_annotator = conn.execute(
        "SELECT a.name, COUNT(*), MIN(j.seq), MAX(j.seq) FROM judgements j "
        "JOIN annotators a ON a.id = j.annotator_id GROUP BY a.name"
    ).fetchall()
    conn.close()
    assert sorted(per_annotator) == [
        (f"writer-{i}", JUDGEMENTS_PER_WRITER, 1, JUDGEMENTS_PER_WRITER) for i in range(WRITERS)
    ]


@watches_open_files
def test_the_app_killed_while_commands_beside_it_use_its_project_loses_no_reported_judgement(mixed_project, tmp_path):
    """Issue 14 as a user met it: the app (a main store, job stores opened and closed beside it) is
    killed at a random moment while stats, export, snapshot, import (some killed too) and the
    trainer's snapshot run on the same file, as separate processes of the real commands."""
    rng = random.Random(20261201)
    reported, ran = 0, Counter()
    for trial in range(MIXED_TRIALS):
        result = mixed_trial(mixed_project, seed=trial, rng=rng, scratch=tmp_path)
        problems = result.problems()
        assert problems == [], f"trial {trial}: " + "; ".join(problems)
        assert result.fd_samples > 0, f"trial {trial}: the writer's open files were never looked at"
        reported += result.judgements.reported
        ran += result.companions.runs
    assert reported > MIXED_TRIALS
    assert set(ran) == set(COMPANIONS)


@watches_open_files
def test_our_wal_and_shm_are_never_unlinked_while_a_process_of_ours_holds_a_connection(mixed_project, tmp_path):
    """The cause of issue 14, watched directly. A process holding the project as the app does (its
    main store open, job stores opened and closed beside it) while other processes read the project
    again and again: none of them may delete the -wal and -shm files under it, as they did when
    opening a job store dropped the process's locks (the last reader then believed it was alone)."""
    holder = start_writer(mixed_project, seed=1, like_app=True)
    output = WriterOutput(holder)
    readers = Companions(mixed_project, tmp_path, random.Random(1), name="reader")
    try:
        output.wait_for_first_commit()
        with WalWatch(holder.pid, mixed_project) as watch:
            for _ in range(READER_ROUNDS):
                for kind in ("stats", "snapshot", "export"):
                    readers.run(kind)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    output.finish()
    assert watch.unlinked == set()
    assert watch.samples > 0, "the holder's open files were never looked at"
    assert holder.returncode == -signal.SIGKILL, output.errors
    assert JOB_FAILED not in output.errors
    assert readers.log.failures == []


def test_processes_creating_the_same_new_project_at_once_apply_the_schema_once(tmp_path):
    path = tmp_path / "new.db"
    code = (
        "import sys; from labeler.store import open_store; "
        "store = open_store(sys.argv[1], create=True); store.annotator_id(sys.argv[2]); store.close()"
    )
    openers = [
        subprocess.Popen([sys.executable, "-c", code, str(path), f"opener-{i}"], stderr=subprocess.PIPE, text=True)
        for i in range(8)
    ]
    for opener in openers:
        _, err = opener.communicate(timeout=120)
        assert opener.returncode == 0, err
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM _sqlite_migrations").fetchone()[0] == len(SCHEMA)
    assert conn.execute("SELECT COUNT(*) FROM annotators").fetchone()[0] == 8
    conn.close()


def _dump(path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:  # closed: an open connection keeps a bulk write in WAL mode
        return list(conn.iterdump())


def test_a_big_import_killed_midway_leaves_the_project_as_it_was(tmp_path):
    """A big import writes through the rollback journal (Store.write_in_bulk). SIGKILL it once pages
    are in the file: the journal left beside it undoes the write when the project is next opened;
    until then a merge refuses it as a pack, saying why."""
    labeler = Path(sys.executable).parent / "labeler"
    project = tmp_path / "project.db"
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"prompt": "kept", "answers": ["a", "b"]}) + "\n")
    subprocess.run([labeler, "init", project], check=True, capture_output=True)
    subprocess.run([labeler, "import", project, small], check=True, capture_output=True)
    before, size = _dump(project), project.stat().st_size
    rng = random.Random(7)
    words = ["the", "a", "model", "answer", "prompt", "rank", "better", "worse", "because", "of", "which", "it"]
    big = tmp_path / "big.jsonl"  # about 45 MB: more than the page cache, so pages reach the file
    with big.open("w") as out:
        for row in range(30_000):
            answers = [" ".join(rng.choices(words, k=60)) + f" {row}.{a}" for a in range(4)]
            out.write(json.dumps({"id": f"r{row}", "prompt": f"prompt {row}", "answers": answers}) + "\n")
    importing = subprocess.Popen([labeler, "import", project, big], start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while project.stat().st_size < size + 4_000_000 and importing.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert importing.poll() is None, "the import ended before it could be killed midway"
    os.killpg(importing.pid, signal.SIGKILL)  # the command and its reading process
    importing.wait()
    journal = Path(f"{project}-journal")
    assert journal.exists(), sorted((f.name, f.stat().st_size) for f in tmp_path.iterdir())

    other = tmp_path / "other.db"
    subprocess.run([labeler, "init", other], check=True, capture_output=True)
    merging = subprocess.run([labeler, "merge", other, project], capture_output=True, text=True)
    assert merging.returncode != 0
    assert "stopped midway" in merging.stderr
    assert "Traceback" not in merging.stderr

    stats = subprocess.run([labeler, "stats", project, "--json"], capture_output=True, text=True)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["counts"]["prompts"] == 1
    assert not journal.exists()
    assert _dump(project) == before
    assert integrity(project) == "ok"
    with sqlite3.connect(project) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = subprocess.run([labeler, "import", project, big], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "added 30,000 prompts, 120,000 answers" in again.stdout
