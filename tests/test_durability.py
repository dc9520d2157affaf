"""Never lose a judgement: writers killed with SIGKILL, and many writers at once."""

import random
import sqlite3

import pytest
from helpers.durability import check_project, integrity, kill_trial, make_writer_project, start_writer

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
