"""Never lose a judgement: writers killed with SIGKILL, and many writers at once."""

import random
import sqlite3
import subprocess
import sys

import pytest
from helpers.durability import check_project, integrity, kill_trial, make_writer_project, start_writer

from labeler.migrations import SCHEMA

KILL_TRIALS = 50
WRITERS = 8
JUDGEMENTS_PER_WRITER = 300


@pytest.fixture
def writer_project(tmp_path):
    path = tmp_path / "durability.db"
    make_writer_project(path)
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
