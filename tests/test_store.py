"""The store: opening and refusing files, append-only judgements, pairs, corrections, drafts."""

import contextlib
import hashlib
import json
import os
import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from helpers.before_m004 import add_prompt_before_m005, make_project_before_m004, record_as_before_m004
from sqlite_utils.migrations import Migrations

from labeler import domain
from labeler.domain import Flag, Judgement, Pair, Ranking, RankingError
from labeler.migrations import MIGRATIONS_TABLE, SCHEMA
from labeler.store import (
    CorruptProjectError,
    NewAnswer,
    NewerSchemaError,
    NotAProjectError,
    ProjectNotFoundError,
    StoreError,
    WriteFailedError,
    answers_hash,
    content_hash,
    open_store,
)
from labeler.store.bulk_reads import NOT_STATED, current_judgements, current_pair_columns


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sibling_files(path: Path) -> set[str]:
    return {p.name for p in path.parent.iterdir()}


def write_plainly(path: Path, *statements: str) -> None:
    """Run `statements` on `path` through a plain SQLite connection, as another program would."""
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def assert_refused_and_untouched(path: Path, error: type[Exception], match: str) -> None:
    before = file_digest(path)
    with pytest.raises(error, match=match):
        open_store(path)
    assert file_digest(path) == before


# -- opening and refusing ----------------------------------------------------------------------


def test_open_sets_durability_pragmas(store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_tables_are_readable_without_our_code(store):
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "settings",
        "guidelines",
        "prompts",
        "answers",
        "annotators",
        "judgements",
        "pairs",
        "demonstrations",
        "drafts",
        "assignments",
    } <= tables


def test_reopening_applies_nothing_twice(project_path):
    open_store(project_path, create=True).close()
    with open_store(project_path) as store:
        applied = store.conn.execute("SELECT COUNT(*) FROM _sqlite_migrations").fetchone()[0]
    assert applied == len(SCHEMA)
    assert Migrations.migrations_table == MIGRATIONS_TABLE


def index_names(conn) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_a_project_made_by_an_older_version_is_brought_up_to_date_with_its_data_kept(project_path, monkeypatch):
    """A project written before m003 gains the queue's index when this version opens it, and its
    judgements are the same afterwards."""
    monkeypatch.setattr("labeler.migrations.SCHEMA", SCHEMA[:2])  # the version before m003
    with open_store(project_path, create=True) as store:
        prompt, answers = add_prompt_before_m005(store, "p", ["a", "b"])
        record_as_before_m004(store, prompt, "ann", answers, [2])
        assert "judgements_by_prompt" in index_names(store.conn)
        before = store.conn.execute("SELECT uuid, prompt_id, annotator_id, tiers FROM judgements").fetchall()
    monkeypatch.undo()
    with open_store(project_path) as store:
        assert "judgements_by_prompt_annotator_and_round" in index_names(store.conn)
        assert not {
            "judgements_by_prompt",
            "judgements_by_prompt_and_annotator",
            "judgements_by_prompt_round_and_annotator",
        } & index_names(store.conn)
        assert store.conn.execute("SELECT uuid, prompt_id, annotator_id, tiers FROM judgements").fetchall() == before
        plan = " ".join(
            row[-1]
            for row in store.conn.execute(
                "EXPLAIN QUERY PLAN SELECT 1 FROM judgements WHERE prompt_id = 1 AND round = 1 AND annotator_id = 1"
            )
        )
        assert "COVERING INDEX judgements_by_prompt_annotator_and_round" in plan


def test_rankings_recorded_before_m004_keep_their_rows_and_are_read_by_the_one_rule(project_path, monkeypatch):
    """m004 only adds columns (NULL in the rows before it); what those rankings stated is decided when
    read: a strength other than 2 was stated, a 2 counts as not stated."""
    answers = make_project_before_m004(project_path, monkeypatch)
    name_and_place = {answer: (name, place) for name, ids in answers.items() for place, answer in enumerate(ids)}
    with open_store(project_path) as store:
        stored = store.conn.execute("SELECT strengths, stated_strengths FROM judgements ORDER BY id").fetchall()
        assert stored == [("[3, 1]", None), ("[2, 2]", None), ("[2, 3]", None)]
        assert store.conn.execute("SELECT COUNT(*) FROM pairs WHERE stated_margin IS NOT NULL").fetchone() == (0,)
        read = {name_and_place[j.tiers[0][0]][0]: (j.strengths, j.stated_strengths) for j in current_judgements(store)}
        columns = current_pair_columns(store)
    assert read == {
        "stated": ([3, 1], [3, 1]),
        "default": ([2, 2], [None, None]),
        "mixed": ([2, 3], [None, 3]),
    }
    pairs = {
        (*name_and_place[chosen], name_and_place[rejected][1]): (margin, stated)
        for chosen, rejected, margin, stated in zip(
            columns["chosen"], columns["rejected"], columns["margin"], columns["stated_margin"], strict=True
        )
    }
    # (prompt, chosen, rejected): (margin as stored, the default filled in; stated margin as decided)
    assert pairs == {
        ("stated", 0, 1): (3, 3),
        ("stated", 0, 2): (4, 4),
        ("stated", 1, 2): (1, 1),
        ("default", 0, 1): (2, NOT_STATED),
        ("default", 0, 2): (4, NOT_STATED),
        ("default", 1, 2): (2, NOT_STATED),
        ("mixed", 0, 1): (2, NOT_STATED),
        ("mixed", 0, 2): (5, 3),
        ("mixed", 1, 2): (3, 3),
    }


def test_missing_file_is_not_created(tmp_path):
    path = tmp_path / "absent.db"
    with pytest.raises(ProjectNotFoundError, match="no such project file"):
        open_store(path)
    assert not path.exists()


def test_folder_is_refused(tmp_path):
    with pytest.raises(NotAProjectError, match="is a folder"):
        open_store(tmp_path)


@pytest.mark.parametrize(
    "content",
    [b"id,prompt\n1,hello\n", b"\x00" * 4096, b"SQLite format 2\x00" + b"\x00" * 100],
    ids=["csv", "zeros", "other-header"],
)
def test_a_file_that_is_not_sqlite_is_refused_and_untouched(tmp_path, content):
    path = tmp_path / "data.db"
    path.write_bytes(content)
    with pytest.raises(NotAProjectError, match="not a project file"):
        open_store(path)
    assert path.read_bytes() == content
    assert sibling_files(path) == {"data.db"}


def test_another_sqlite_database_is_refused_and_untouched(tmp_path):
    path = tmp_path / "other.db"
    write_plainly(path, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    assert_refused_and_untouched(path, NotAProjectError, "not a labeler project")
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_an_empty_database_is_only_opened_to_create(tmp_path):
    path = tmp_path / "empty.db"
    sqlite3.connect(path).execute("PRAGMA user_version = 0").close()
    with pytest.raises(NotAProjectError, match="empty database"):
        open_store(path)
    open_store(path, create=True).close()
    open_store(path).close()


def test_a_newer_schema_is_refused_and_untouched(project_path):
    open_store(project_path, create=True).close()
    write_plainly(
        project_path,
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('labeler', 'm999_future', 'x')",
    )
    assert_refused_and_untouched(project_path, NewerSchemaError, "newer version of labeler")


def test_a_corrupt_project_is_refused(project_path, tmp_path):
    with open_store(project_path, create=True) as store:
        store.add_prompt("p", [NewAnswer(f"answer {i}" * 200) for i in range(9)])
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(project_path.read_bytes())
    # Keep the header, scribble over the schema page and everything after it.
    data[100:] = b"\xa5" * (len(data) - 100)
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(bytes(data))
    assert_refused_and_untouched(damaged, CorruptProjectError, "damaged")


# -- prompts and answers ---------------------------------------------------------------------


def test_prompts_and_answers_are_identified_by_content(store):
    first = store.add_prompt("Explain WAL.", [NewAnswer("It logs."), NewAnswer("Write-ahead logging.")])
    again = store.add_prompt("Explain WAL.", [NewAnswer("Write-ahead logging."), NewAnswer("A third one.")])
    assert again[0] == first[0]
    assert again[1][0] == first[1][1]
    assert len(store.prompt(first[0]).answers) == 3


def test_chat_prompts_round_trip(store):
    chat = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me a joke"},
    ]
    prompt_id, _ = store.add_prompt(chat, [NewAnswer("a"), NewAnswer("b")], metadata={"category": "chat"})
    prompt = store.prompt(prompt_id)
    assert prompt.kind == "chat"
    assert prompt.content == chat
    assert prompt.metadata == {"category": "chat"}
    # The same chat spelled with its keys in another order is the same prompt.
    respelled = [{"content": m["content"], "role": m["role"]} for m in chat]
    assert store.add_prompt(respelled)[0] == prompt_id


def test_a_chat_of_one_user_message_is_that_text(store):
    text_id, _ = store.add_prompt("Just this", [NewAnswer("a"), NewAnswer("b")])
    assert store.add_prompt([{"role": "user", "content": "Just this"}])[0] == text_id
    assert store.prompt(text_id).kind == "text"


def test_an_empty_prompt_is_refused_and_an_empty_answer_kept(store):
    with pytest.raises(StoreError, match="prompt cannot be empty"):
        store.add_prompt("   ", [NewAnswer("a")])
    assert store.stats().prompts == 0
    # An empty answer is a real one: a policy can say nothing, and an annotator may prefer that.
    prompt_id, answer_ids = store.add_prompt("p", [NewAnswer("a"), NewAnswer("")])
    assert [answer.text for answer in store.prompt(prompt_id).answers] == ["a", ""]
    assert len(answer_ids) == 2


# -- judgements and pairs --------------------------------------------------------------------


def record_ranked(store, prompt_id, answer_ids, tiers, annotator="ann", **kwargs):
    return store.record_judgement(prompt_id, annotator, Judgement.ranked(Ranking.of(tiers)), answer_ids, **kwargs)


def test_a_judgement_is_stored_with_everything_it_needs(seeded_store):
    store, seeded = seeded_store
    prompt_id, answers = seeded[2]  # 4 answers
    shown = [answers[2], answers[0], answers[3], answers[1]]
    judgement = Judgement.ranked(
        Ranking.of([[answers[2], answers[0]], answers[3], answers[1]], strengths=[3, 1]),
        flags={answers[1]: frozenset({Flag.HALLUCINATION, Flag.FAILS_INSTRUCTION})},
        likert=6,
        comment="close call",
    )
    version = store.add_guidelines("# Rules")
    recorded = store.record_judgement(
        prompt_id, "alice", judgement, shown, seconds_spent=12.5, guideline_version=version
    )
    row = store.judgement_row(recorded.uuid)
    texts = {a.id: a.text for a in store.prompt(prompt_id).answers}
    assert row["outcome"] == "ranked"
    assert row["tiers"] == [[answers[2], answers[0]], [answers[3]], [answers[1]]]
    assert (row["strengths"], row["stated_strengths"]) == ([3, 1], [3, 1])
    assert row["display_order"] == shown
    assert row["answers_hash"] == answers_hash(texts[a] for a in shown)
    assert row["seconds_spent"] == 12.5
    assert row["guideline_version"] == version
    assert row["flags"] == {str(answers[1]): ["fails_instruction", "hallucination"]}
    assert row["likert"] == 6
    assert row["comment"] == "close call"
    assert row["seq"] == 1
    assert row["created_at"].endswith("Z")
    assert recorded.pairs == 5
    assert set(store.judgement_pairs(recorded.uuid)) == set(domain.ranking_to_pairs(judgement.ranking))


def test_a_judgement_records_which_strengths_were_stated_and_its_pairs_stated_margins(seeded_store):
    store, seeded = seeded_store
    prompt_id, answers = seeded[1]  # 3 answers
    # 0 >> 1 (not stated: the default, better) >>> 2 (stated: much better)
    recorded = store.record_judgement(
        prompt_id, "ann", Judgement.ranked(Ranking.of(answers, strengths=[None, 3])), answers
    )
    row = store.judgement_row(recorded.uuid)
    assert (row["strengths"], row["stated_strengths"]) == ([2, 3], [None, 3])
    stored = store.conn.execute(
        "SELECT chosen_answer_id, rejected_answer_id, margin, stated_margin FROM pairs ORDER BY id"
    ).fetchall()
    a, b, c = answers
    assert stored == [(a, b, 2, None), (a, c, 5, 3), (b, c, 3, 3)]
    assert store.judgement_pairs(recorded.uuid) == [Pair(a, b, 2, None), Pair(a, c, 5, 3), Pair(b, c, 3, 3)]
    nothing_to_state = store.record_judgement(prompt_id, "bob", Judgement.all_bad(), answers)
    assert store.judgement_row(nothing_to_state.uuid)["stated_strengths"] is None


def test_the_database_refuses_a_negative_stated_margin(seeded_store, project_path):
    store, seeded = seeded_store
    prompt_id, answers = seeded[0]
    recorded = store.record_judgement(prompt_id, "ann", Judgement.ranked(Ranking.of(answers)), answers)
    conn = sqlite3.connect(project_path)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed: stated_margin >= 0"):
        conn.execute(
            "INSERT INTO pairs (judgement_id, prompt_id, chosen_answer_id, rejected_answer_id, margin, stated_margin) "
            "VALUES (?, ?, ?, ?, 2, -1)",
            [recorded.id, prompt_id, answers[1], answers[0]],
        )
    conn.close()


def test_sequence_numbers_are_per_annotator(seeded_store):
    store, seeded = seeded_store
    seqs = []
    for annotator in ["alice", "bob", "alice", "alice", "bob"]:
        prompt_id, answers = seeded[0]
        seqs.append((annotator, record_ranked(store, prompt_id, answers, answers, annotator).seq))
    assert seqs == [("alice", 1), ("bob", 1), ("alice", 2), ("alice", 3), ("bob", 2)]


def test_invalid_judgements_write_nothing(seeded_store):
    store, seeded = seeded_store
    prompt_id, answers = seeded[1]  # 3 answers
    other_prompt_answers = seeded[2][1]
    with pytest.raises(RankingError, match="not placed"):
        record_ranked(store, prompt_id, answers, answers[:2])
    with pytest.raises(RankingError, match="not answers of prompt"):
        record_ranked(store, prompt_id, [answers[0], other_prompt_answers[0]], [answers[0], other_prompt_answers[0]])
    with pytest.raises(StoreError, match="no prompt with id"):
        record_ranked(store, 9999, [1, 2], [1, 2])
    assert store.stats().judgement_records == 0
    assert store.stats().annotators == 0


def test_all_bad_and_skipped_have_no_pairs(seeded_store):
    store, seeded = seeded_store
    prompt_id, answers = seeded[3]
    bad = store.record_judgement(prompt_id, "ann", Judgement.all_bad(comment="all wrong"), answers)
    skipped = store.record_judgement(prompt_id, "ann", Judgement.skipped("not my field"), answers)
    assert bad.pairs == skipped.pairs == 0
    assert store.judgement_row(skipped.uuid)["skip_reason"] == "not my field"
    stats = store.stats()
    assert (stats.all_bad, stats.skipped, stats.ranked, stats.pairs) == (1, 1, 0, 0)


def test_a_correction_supersedes_and_counts_once(seeded_store):
    store, seeded = seeded_store
    prompt_id, answers = seeded[1]
    first = record_ranked(store, prompt_id, answers, answers)
    second = record_ranked(store, prompt_id, answers, list(reversed(answers)), supersedes=first.uuid)
    stats = store.stats()
    assert (stats.judgements, stats.judgement_records, stats.pairs) == (1, 2, 3)
    current = store.conn.execute("SELECT uuid FROM current_judgements").fetchall()
    assert current == [(second.uuid,)]
    with pytest.raises(StoreError, match="already superseded"):
        record_ranked(store, prompt_id, answers, answers, supersedes=first.uuid)
    with pytest.raises(StoreError, match="another prompt"):
        record_ranked(store, seeded[2][0], seeded[2][1], seeded[2][1], supersedes=second.uuid)


def test_retracting_withdraws_without_deleting(seeded_store):
    store, seeded = seeded_store
    prompt_id, answers = seeded[0]
    kept = record_ranked(store, prompt_id, answers, answers)
    undone = record_ranked(store, prompt_id, answers, answers[::-1])
    store.retract_judgement(undone.uuid, "ann")
    stats = store.stats()
    assert (stats.judgements, stats.judgement_records, stats.pairs) == (1, 3, 1)
    assert store.judgement_row(undone.uuid)["outcome"] == "ranked"  # still there
    assert store.conn.execute("SELECT uuid FROM current_judgements").fetchall() == [(kept.uuid,)]


def test_stats_agree_with_the_current_views_through_corrections_and_retractions(seeded_store):
    store, seeded = seeded_store
    rng = random.Random(7)
    latest: dict[int, str] = {}
    for step in range(120):
        prompt_id, answers = rng.choice(seeded)
        earlier = latest.get(prompt_id) if rng.random() < 0.4 else None
        if earlier and rng.random() < 0.3:
            store.retract_judgement(earlier, "ann")
            del latest[prompt_id]
            continue
        kind = rng.random()
        if kind < 0.1:
            judgement = Judgement.all_bad()
        elif kind < 0.2:
            judgement = Judgement.skipped("unsure")
        else:
            judgement = Judgement.ranked(Ranking.of(rng.sample(answers, len(answers))))
        recorded = store.record_judgement(prompt_id, f"a{step % 3}", judgement, answers, supersedes=earlier)
        latest[prompt_id] = recorded.uuid
    stats = store.stats()
    by_outcome = dict(store.conn.execute("SELECT outcome, COUNT(*) FROM current_judgements GROUP BY outcome"))
    assert stats.judgements == sum(by_outcome.values())
    assert (stats.ranked, stats.all_bad, stats.skipped) == tuple(
        by_outcome.get(o, 0) for o in ("ranked", "all_bad", "skipped")
    )
    assert stats.pairs == store.conn.execute("SELECT COUNT(*) FROM current_pairs").fetchone()[0]
    assert stats.judgement_records == 120
    assert 0 < stats.judgements < 120


def plain_connection(path: Path) -> sqlite3.Connection:
    """A connection as another tool would open it: no recursive triggers, autocommit."""
    conn = sqlite3.connect(path, isolation_level=None)
    assert conn.execute("PRAGMA recursive_triggers").fetchone()[0] == 0
    return conn


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE judgements SET comment = 'edited'",
        "DELETE FROM judgements",
        "INSERT OR REPLACE INTO judgements SELECT * FROM judgements",
        # Same rowid, new uuid: REPLACE would silently delete the original row.
        "REPLACE INTO judgements (id, uuid, prompt_id, annotator_id, seq, created_at, outcome, "
        " display_order, answers_hash) SELECT id, 'other-uuid', prompt_id, annotator_id, seq, created_at, "
        " outcome, display_order, answers_hash FROM judgements",
        "UPDATE pairs SET margin = 99",
        "DELETE FROM pairs",
        "INSERT OR REPLACE INTO pairs SELECT * FROM pairs",
        "INSERT OR REPLACE INTO pairs "
        " (judgement_id, prompt_id, chosen_answer_id, rejected_answer_id, margin) "
        " SELECT judgement_id, prompt_id, chosen_answer_id, rejected_answer_id, 7 FROM pairs",
    ],
)
def test_the_database_itself_refuses_to_change_judgements_and_pairs(seeded_store, project_path, statement):
    store, seeded = seeded_store
    prompt_id, answers = seeded[1]
    recorded = record_ranked(store, prompt_id, answers, answers)
    before = (store.judgement_row(recorded.uuid), store.judgement_pairs(recorded.uuid))
    conn = plain_connection(project_path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(statement)
    conn.close()
    assert (store.judgement_row(recorded.uuid), store.judgement_pairs(recorded.uuid)) == before


# -- drafts, demonstrations, settings ------------------------------------------------------


def test_a_draft_lives_until_its_judgement_is_saved(seeded_store):
    store, seeded = seeded_store
    prompt_id, answers = seeded[1]
    assert store.draft("ann", prompt_id) is None
    store.save_draft("ann", prompt_id, {"typed": [answers[0]]})
    store.save_draft("ann", prompt_id, {"typed": [answers[0], answers[2]]})
    assert store.draft("ann", prompt_id) == {"typed": [answers[0], answers[2]]}
    assert store.draft("bob", prompt_id) is None
    record_ranked(store, prompt_id, answers, answers)
    assert store.draft("ann", prompt_id) is None


def test_demonstrations_and_settings(seeded_store):
    store, seeded = seeded_store
    prompt_id, answers = seeded[0]
    store.add_demonstration(prompt_id, "ann", "A better answer.", based_on_answer_id=answers[0])
    with pytest.raises(StoreError, match="cannot be empty"):
        store.add_demonstration(prompt_id, "ann", "  ")
    assert store.stats().demonstrations == 1
    assert store.setting("annotators_per_prompt", 1) == 1
    store.set_setting("annotators_per_prompt", 3)
    store.set_setting("annotators_per_prompt", 2)
    assert store.setting("annotators_per_prompt") == 2
    assert store.guidelines() is None
    store.add_guidelines("v1")
    assert store.add_guidelines("v2") == 2
    assert store.guidelines() == (2, "v2")


# -- transactions ----------------------------------------------------------------------------


def test_every_write_begins_immediate(seeded_store):
    store, seeded = seeded_store
    statements = []
    store.conn.set_trace_callback(statements.append)
    prompt_id, answers = seeded[1]
    record_ranked(store, prompt_id, answers, answers)
    store.save_draft("ann", prompt_id, {})
    store.set_setting("x", 1)
    store.conn.set_trace_callback(None)
    begins = [s for s in statements if s.startswith("BEGIN")]
    assert begins == ["BEGIN IMMEDIATE"] * 3
    assert statements.count("COMMIT") == 3


def test_a_failing_write_rolls_back_everything(seeded_store):
    store, _ = seeded_store

    def half_then_fail(conn):
        conn.execute("INSERT INTO settings (key, value) VALUES ('half', '1')")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        store.write(half_then_fail)
    assert store.setting("half") is None
    assert not store.conn.in_transaction


def test_a_busy_write_waits_for_the_lock_then_succeeds(seeded_store, project_path):
    store, seeded = seeded_store
    blocker = sqlite3.connect(project_path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: blocker.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    prompt_id, answers = seeded[1]
    recorded = record_ranked(store, prompt_id, answers, answers)
    waited = time.monotonic() - started
    release.join()
    blocker.close()
    assert waited >= 0.2
    assert store.judgement_pairs(recorded.uuid)


def test_a_lock_that_never_clears_is_a_clear_error_and_writes_nothing(project_path):
    with open_store(project_path, create=True, busy_timeout_s=0.3) as store:
        blocker = sqlite3.connect(project_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(WriteFailedError, match="nothing was saved: the project file is locked"):
            store.add_prompt("p", [NewAnswer("a"), NewAnswer("b")])
        blocker.execute("ROLLBACK")
        blocker.close()
        assert store.stats().prompts == 0


def test_pairs_reference_real_answers(seeded_store):
    store, _ = seeded_store
    orphans = store.conn.execute("PRAGMA foreign_key_check").fetchall()
    assert orphans == []
    with pytest.raises(sqlite3.IntegrityError):
        store.write(
            lambda conn: conn.execute(
                "INSERT INTO answers (prompt_id, text, text_hash, created_at) VALUES (424242, 't', 'h', 'now')"
            )
        )


def test_judgement_rows_keep_json_readable_by_other_tools(seeded_store, project_path):
    store, seeded = seeded_store
    prompt_id, answers = seeded[1]
    record_ranked(store, prompt_id, answers, [[answers[0], answers[1]], answers[2]])
    tiers = plain_connection(project_path).execute("SELECT tiers FROM judgements").fetchone()[0]
    assert json.loads(tiers) == [[answers[0], answers[1]], [answers[2]]]


def descriptors_on(path) -> int:
    """How many of this process's file descriptors are open on `path`."""
    links = []
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            links.append(os.readlink(f"/proc/self/fd/{name}"))
    return links.count(str(Path(path).resolve()))


def table_dump(path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:  # closed: an open connection keeps a bulk write in WAL mode
        return list(conn.iterdump())


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts file descriptors in /proc")
def test_a_bulk_write_alone_uses_the_rollback_journal_and_syncs_as_it_goes(store, project_path, monkeypatch):
    syncs = []
    real_sync = getattr(os, "fdatasync", os.fsync)
    monkeypatch.setattr(
        os, "fdatasync" if hasattr(os, "fdatasync") else "fsync", lambda fd: syncs.append(fd) or real_sync(fd)
    )
    descriptors = descriptors_on(project_path)  # SQLite's own
    seen = {}

    def work(conn, flush):
        seen["journal"] = conn.execute("PRAGMA journal_mode").fetchone()[0]
        seen["synchronous"] = conn.execute("PRAGMA synchronous").fetchone()[0]
        for number in range(30):
            conn.execute("INSERT INTO annotators (name, created_at) VALUES (?, 'now')", [f"a{number}"])
            flush()
            time.sleep(0.02)  # long enough for a few syncs at a short interval
        seen["syncing"] = any(thread.name == "labeler-sync" for thread in threading.enumerate())
        seen["descriptors added"] = descriptors_on(project_path) - descriptors
        return "done"

    monkeypatch.setattr("labeler.store.flusher.Flusher.__init__.__defaults__", (0.05,))
    assert store.write_in_bulk(work) == "done"
    assert seen == {"journal": "delete", "synchronous": 3, "syncing": True, "descriptors added": 1}  # 3: EXTRA
    assert syncs  # the file was synced while the work ran
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
    assert not any(thread.name == "labeler-sync" for thread in threading.enumerate())
    assert descriptors_on(project_path) == descriptors  # the syncing one is closed
    assert store.conn.execute("SELECT COUNT(*) FROM annotators").fetchone()[0] == 30


def test_a_bulk_write_with_the_file_open_elsewhere_stays_in_wal_mode(store, project_path):
    other = sqlite3.connect(project_path)  # the window, say
    other.execute("SELECT COUNT(*) FROM prompts").fetchone()
    seen = []

    def work(conn, flush):
        flush()  # does nothing here
        seen.append(conn.execute("PRAGMA journal_mode").fetchone()[0])
        seen.append(any(thread.name == "labeler-sync" for thread in threading.enumerate()))
        conn.execute("INSERT INTO annotators (name, created_at) VALUES ('x', 'now')")

    store.write_in_bulk(work)
    assert seen == ["wal", False]
    assert other.execute("SELECT COUNT(*) FROM annotators").fetchone()[0] == 1  # read while the other had it open
    other.close()


def test_a_failed_bulk_write_leaves_the_content_as_it_was(store, project_path):
    store.add_prompt("kept", [NewAnswer("a"), NewAnswer("b")])
    before = table_dump(project_path)

    def work(conn, flush):
        conn.execute("INSERT INTO annotators (name, created_at) VALUES ('x', 'now')")
        flush()
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        store.write_in_bulk(work)
    assert table_dump(project_path) == before
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert not any(thread.name == "labeler-sync" for thread in threading.enumerate())


def test_a_prompts_identity_is_the_hash_projects_already_hold():
    # Stored in every project and compared when importing and merging: it must never drift.
    assert content_hash("Température?") == hashlib.sha256("text\x00Température?".encode()).hexdigest()
    assert content_hash([{"role": "user", "content": "Hi"}]) == content_hash("Hi")
    chat = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}]
    canonical = 'chat\x00[{"content": "Be kind.", "role": "system"}, {"content": "Hi", "role": "user"}]'
    assert content_hash(chat) == hashlib.sha256(canonical.encode()).hexdigest()
