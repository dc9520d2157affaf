"""Annotators on several machines: snapshots, and merging their project files by judgement uuid."""

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.before_m004 import make_project_before_m004
from helpers.projects import make_project, numbered_prompts

from labeler.domain import Judgement, Ranking
from labeler.store import NotAProjectError, StoreError, open_store
from labeler.store.merging import merge_packs
from labeler.store.snapshots import snapshot

BIN = Path(sys.executable).parent


def content_digest(path: Path) -> dict:
    """What a project holds, independent of row ids: prompts and answers by content, judgements by
    uuid with their answers named by text hash, pairs likewise."""
    conn = sqlite3.connect(path)
    prompts = dict(conn.execute("SELECT id, content_hash FROM prompts"))
    answers = {
        row[0]: (prompts[row[1]], row[2]) for row in conn.execute("SELECT id, prompt_id, text_hash FROM answers")
    }
    judgements = {}
    for row in conn.execute(
        "SELECT j.id, j.uuid, a.name, j.prompt_id, j.seq, j.created_at, j.outcome, j.tiers, j.strengths, "
        "j.display_order, j.answers_hash, j.flags, j.likert, j.comment, j.supersedes, j.seconds_spent, "
        "j.stated_strengths FROM judgements j JOIN annotators a ON a.id = j.annotator_id"
    ):
        pairs = sorted(
            (answers[c], answers[r], m, stated)
            for c, r, m, stated in conn.execute(
                "SELECT chosen_answer_id, rejected_answer_id, margin, stated_margin FROM pairs WHERE judgement_id = ?",
                [row[0]],
            )
        )
        tiers = [[answers[a] for a in tier] for tier in json.loads(row[7])] if row[7] else None
        flags = {json.dumps(answers[int(a)]): f for a, f in json.loads(row[11]).items()}
        judgements[row[1]] = (
            row[2], prompts[row[3]], row[4], row[5], row[6], tiers, row[8],
            [answers[a] for a in json.loads(row[9])], row[10], flags, row[12], row[13], row[14], row[15], row[16],
            pairs,
        )  # fmt: skip
    digest = {
        "prompts": sorted(prompts.values()),
        "answers": sorted(answers.values()),
        "annotators": sorted(r[0] for r in conn.execute("SELECT name FROM annotators")),
        "judgements": judgements,
        "demonstrations": sorted(conn.execute("SELECT uuid, text FROM demonstrations")),
    }
    conn.close()
    return digest


def file_state(path: Path) -> tuple[str, set[str]]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), {p.name for p in path.parent.iterdir()}


@pytest.fixture
def machines(tmp_path):
    """A shared starting project, copied to two annotators' machines who then work apart."""
    base = tmp_path / "base.db"
    make_project(base, numbered_prompts(4, 3, models=True), guidelines="v1")
    with open_store(base) as store:
        snapshot(store, tmp_path / "alice.db")
        snapshot(store, tmp_path / "bob.db")
    for name in ("alice", "bob"):
        with open_store(tmp_path / f"{name}.db") as store:
            for prompt_id in store.prompt_ids()[:3]:
                answers = [a.id for a in store.prompt(prompt_id).answers]
                order = answers if name == "alice" else answers[::-1]
                recorded = store.record_judgement(
                    prompt_id, name, Judgement.ranked(Ranking.of(order), comment=name), answers, seconds_spent=3.0
                )
            # The last one is corrected, and a demonstration is written.
            store.record_judgement(
                prompt_id, name, Judgement.all_bad(), answers, supersedes=recorded.uuid, seconds_spent=1.0
            )
            store.add_demonstration(prompt_id, name, f"{name}'s better answer", based_on_answer_id=answers[0])
    return base, tmp_path / "alice.db", tmp_path / "bob.db"


def copy_of(base: Path, name: str) -> Path:
    out = base.with_name(name)
    with open_store(base) as store:
        snapshot(store, out)
    return out


def test_merging_brings_everything_and_twice_adds_nothing(machines):
    base, alice, bob = machines
    project = copy_of(base, "project.db")
    with open_store(project) as store:
        report = merge_packs(store, [alice, bob])
        assert report.judgements_added == 8
        assert report.demonstrations_added == 2
        assert report.conflicts == []
        stats = store.stats()
        assert (stats.judgements, stats.judgement_records, stats.annotators) == (6, 8, 2)
        assert stats.all_bad == 2
        assert stats.pairs == 2 * 2 * 3
        before = content_digest(project)
        again = merge_packs(store, [alice, bob, alice])
        assert (again.judgements_added, again.judgements_already_there, again.prompts_added) == (0, 12, 0)
    assert content_digest(project) == before
    # The merged project holds exactly each pack's judgements, pairs included.
    merged = content_digest(project)["judgements"]
    for pack in (alice, bob):
        for uuid, judgement in content_digest(pack)["judgements"].items():
            assert merged[uuid] == judgement


def test_stated_strengths_come_with_a_pack_and_those_recorded_before_m004_stay_undecided(tmp_path, monkeypatch, store):
    """The pack's rankings recorded before m004 arrive with NULL (read by the rule, like the project's own);
    one recorded since arrives with what it stated."""
    pack = tmp_path / "older-pack.db"
    answers = make_project_before_m004(pack, monkeypatch)
    with open_store(pack) as older:
        prompt_id = older.conn.execute("SELECT prompt_id FROM answers WHERE id = ?", [answers["default"][0]]).fetchone()
        ranking = Ranking.of(answers["default"], strengths=[None, 3])
        older.record_judgement(prompt_id[0], "bob", Judgement.ranked(ranking), answers["default"])
        older.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    merge_packs(store, [pack])
    judgements = store.conn.execute(
        "SELECT a.name, j.strengths, j.stated_strengths FROM judgements j "
        "JOIN annotators a ON a.id = j.annotator_id ORDER BY j.id"
    ).fetchall()
    stated_margins = store.conn.execute(
        "SELECT a.name, p.stated_margin FROM pairs p JOIN judgements j ON j.id = p.judgement_id "
        "JOIN annotators a ON a.id = j.annotator_id ORDER BY p.id"
    ).fetchall()
    assert judgements == [
        ("ann", "[3, 1]", None),
        ("ann", "[2, 2]", None),
        ("ann", "[2, 3]", None),
        ("bob", "[2, 3]", "[null, 3]"),
    ]
    assert stated_margins == [("ann", None)] * 9 + [("bob", None), ("bob", 3), ("bob", 3)]
    assert content_digest(store.path)["judgements"] == content_digest(pack)["judgements"]


def test_packs_in_either_order_give_the_same_contents(machines):
    base, alice, bob = machines
    first, second = copy_of(base, "first.db"), copy_of(base, "second.db")
    with open_store(first) as store:
        merge_packs(store, [alice, bob])
    with open_store(second) as store:
        merge_packs(store, [bob])
        merge_packs(store, [alice])
    assert content_digest(first) == content_digest(second)


def test_packs_are_never_changed(machines):
    _, alice, bob = machines
    project = copy_of(machines[0], "project.db")
    before = [file_state(alice), file_state(bob)]
    with open_store(project) as store:
        merge_packs(store, [alice, bob])
    assert [file_state(alice), file_state(bob)] == before


def test_a_uuid_with_other_contents_is_a_conflict_and_the_project_keeps_its_own(machines):
    base, alice, _ = machines
    project = copy_of(base, "project.db")
    with open_store(project) as store:
        merge_packs(store, [alice])
    tampered = alice.with_name("tampered.db")
    with open_store(alice) as store:
        snapshot(store, tampered)
    conn = sqlite3.connect(tampered)
    uuid = conn.execute("SELECT uuid FROM judgements WHERE outcome = 'ranked' LIMIT 1").fetchone()[0]
    # A forged file: the trigger is dropped for the change and put back as it was, so the file's
    # schema is a project's (a pack whose schema differs is refused whole: test_merge_untrusted.py).
    (trigger,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'judgements_refuse_update'").fetchone()
    conn.execute("DROP TRIGGER judgements_refuse_update")
    conn.execute("UPDATE judgements SET comment = 'changed' WHERE uuid = ?", [uuid])
    conn.execute(trigger)
    conn.commit()
    conn.close()
    with open_store(project) as store:
        report = merge_packs(store, [tampered])
        assert report.judgements_added == 0
        assert len(report.conflicts) == 1
        assert uuid in report.conflicts[0]
        assert "different contents" in report.conflicts[0]
        assert store.judgement_row(uuid)["comment"] == "alice"


def test_the_same_annotator_judging_the_same_answers_twice_is_reported(machines):
    base, alice, _ = machines
    other_machine = copy_of(base, "alice-laptop.db")
    with open_store(other_machine) as store:
        prompt_id = store.prompt_ids()[0]
        answers = [a.id for a in store.prompt(prompt_id).answers]
        store.record_judgement(prompt_id, "alice", Judgement.ranked(Ranking.of(answers[::-1])), answers[::-1])
    project = copy_of(base, "project.db")
    with open_store(project) as store:
        report = merge_packs(store, [alice, other_machine])
    assert len(report.conflicts) == 1
    assert "alice judged the same answers" in report.conflicts[0]
    assert report.judgements_added == 5  # both are kept: they are judgements, not copies


@pytest.mark.parametrize("kind", ["foreign", "corrupt", "text"])
def test_a_bad_pack_stops_the_merge_and_nothing_changes(machines, kind):
    base, alice, _ = machines
    bad = base.with_name(f"bad-{kind}.db")
    if kind == "foreign":
        conn = sqlite3.connect(bad)
        conn.execute("CREATE TABLE x (y)")
        conn.commit()
        conn.close()
    elif kind == "corrupt":
        data = bytearray(alice.read_bytes())
        data[100:] = b"\x5a" * (len(data) - 100)
        bad.write_bytes(bytes(data))
    else:
        bad.write_text("not a database")
    project = copy_of(base, "project.db")
    before = content_digest(project)
    before_bad = file_state(bad)
    with open_store(project) as store, pytest.raises(StoreError) as raised:
        merge_packs(store, [alice, bad])
    assert str(bad) in str(raised.value)
    assert content_digest(project) == before
    assert file_state(bad) == before_bad


def test_merge_and_snapshot_commands(machines, tmp_path):
    base, alice, bob = machines
    project = copy_of(base, "project.db")
    merged = subprocess.run(
        [str(BIN / "labeler"), "merge", str(project), str(alice), str(bob)], capture_output=True, text=True
    )
    assert merged.returncode == 0, merged.stderr
    assert "added 0 prompts" in merged.stdout
    assert "8 judgements" in merged.stdout
    copy = tmp_path / "copy.db"
    taken = subprocess.run([str(BIN / "labeler"), "snapshot", str(project), str(copy)], capture_output=True, text=True)
    assert taken.returncode == 0, taken.stderr
    assert content_digest(copy) == content_digest(project)
    again = subprocess.run([str(BIN / "labeler"), "snapshot", str(project), str(copy)], capture_output=True, text=True)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    refused = subprocess.run(
        [str(BIN / "labeler"), "merge", str(project), str(tmp_path / "absent.db")], capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert "no such project file" in refused.stderr


def test_a_snapshot_taken_while_another_process_writes_is_whole(tmp_path):
    from helpers.durability import check_project, integrity, make_writer_project, start_writer

    project = tmp_path / "busy.db"
    make_writer_project(project)
    writer = start_writer(project, seed=1)
    try:
        writer.stdout.readline()  # writing has begun
        copies = []
        with open_store(project) as store:
            for number in range(5):
                copies.append(snapshot(store, tmp_path / f"snap-{number}.db"))
    finally:
        writer.kill()
        writer.communicate()
    for copy in copies:
        assert integrity(copy) == "ok"
        # Every judgement in the copy has exactly its ranking's pairs: none was caught half-written.
        assert check_project(copy, {}).wrong_pairs == []
        with open_store(copy) as store:
            assert store.stats().judgements > 0


def test_snapshot_refuses_a_missing_folder(store, tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        snapshot(store, tmp_path / "no" / "such.db")


def test_a_pack_is_checked_like_any_project(tmp_path, store):
    text = tmp_path / "notes.db"
    text.write_text("hello")
    with pytest.raises(NotAProjectError):
        merge_packs(store, [text])
