"""Undo and redo of saved judgements: the stack on its own (no window), then from the keyboard."""

import sqlite3

import pytest
from helpers.projects import make_project, numbered_prompts
from PySide6.QtCore import Qt
from test_task_view import open_window, project, type_keys  # noqa: F401 (project is a fixture)

from labeler.domain import Judgement, Outcome, Ranking
from labeler.store import StoreError, open_store
from labeler.ui.submissions import SavedJudgement, SubmissionHistory


@pytest.fixture
def store(tmp_path):
    make_project(tmp_path / "p.db", numbered_prompts(2, 3))
    with open_store(tmp_path / "p.db") as store:
        yield store


def save(store, history, prompt_id, order, supersedes=None):
    saved = SavedJudgement(
        prompt_id, "ann", Judgement.ranked(Ranking.of(order)), tuple(order), seconds_spent=3.0, supersedes=supersedes
    )
    recorded = saved.record(store)
    history.saved(saved, recorded)
    return recorded


def current_outcomes(store) -> dict[int, str]:
    """prompt id -> the outcome of the annotator's row that nothing supersedes."""
    rows = store.conn.execute(
        "SELECT prompt_id, outcome FROM judgements j WHERE NOT EXISTS "
        "(SELECT 1 FROM judgements later WHERE later.supersedes = j.uuid)"
    )
    return dict(rows.fetchall())


def answer_ids(store, prompt_id):
    return [answer.id for answer in store.prompt(prompt_id).answers]


def test_undo_withdraws_the_newest_and_redo_saves_it_again_as_it_was(store):
    history = SubmissionHistory()
    first, second = store.prompt_ids()
    save(store, history, first, answer_ids(store, first))
    newest = save(store, history, second, answer_ids(store, second)[::-1])

    entry, retraction = history.undo(store)
    assert entry.judgement_uuid == newest.uuid
    assert store.judgement_row(retraction.uuid)["supersedes"] == newest.uuid
    assert current_outcomes(store) == {first: "ranked", second: Outcome.RETRACTED}
    assert history.can_undo()
    assert history.can_redo()

    entry, again = history.redo(store)
    assert again.uuid != newest.uuid
    assert entry.judgement_uuid == again.uuid
    row = store.judgement_row(again.uuid)
    assert (row["prompt_id"], row["display_order"], row["seconds_spent"]) == (
        second,
        answer_ids(store, second)[::-1],
        3.0,
    )
    assert store.judgement_pairs(again.uuid) == store.judgement_pairs(newest.uuid)
    assert current_outcomes(store) == {first: "ranked", second: "ranked"}
    assert not history.can_redo()

    # Undo twice goes back through both, newest first; a new save drops what could be redone.
    history.undo(store)
    history.undo(store)
    assert not history.can_undo()
    assert set(current_outcomes(store).values()) == {Outcome.RETRACTED}
    save(store, history, first, answer_ids(store, first)[::-1])
    assert not history.can_redo()


def test_a_redone_correction_is_current_and_supersedes_nothing_already_superseded(store):
    history = SubmissionHistory()
    prompt_id = store.prompt_ids()[0]
    ids = answer_ids(store, prompt_id)
    original = save(store, history, prompt_id, ids)
    correction = save(store, history, prompt_id, ids[::-1], supersedes=original.uuid)
    history.undo(store)
    _, again = history.redo(store)
    assert store.judgement_row(again.uuid)["supersedes"] is None  # the original stays superseded by the correction
    assert store.judgement_row(again.uuid)["tiers"] == store.judgement_row(correction.uuid)["tiers"]
    assert current_outcomes(store) == {prompt_id: "ranked"}


def refused(monkeypatch, store, method: str, step) -> None:
    """`step` while the store's `method` fails as a locked file does: it raises StoreError."""

    def locked(*args, **kwargs):
        raise StoreError("database is locked")

    with monkeypatch.context() as patched:
        patched.setattr(store, method, locked)
        with pytest.raises(StoreError):
            step(store)


def test_a_failed_write_leaves_the_stack_where_it_was(store, monkeypatch):
    history = SubmissionHistory()
    prompt_id = store.prompt_ids()[0]
    recorded = save(store, history, prompt_id, answer_ids(store, prompt_id))
    refused(monkeypatch, store, "retract_judgement", history.undo)
    assert history.can_undo()
    assert not history.can_redo()
    history.undo(store)  # tried again once the file is free
    refused(monkeypatch, store, "record_judgement", history.redo)
    assert history.can_redo()
    assert not history.can_undo()
    history.redo(store)
    assert current_outcomes(store) == {prompt_id: "ranked"}
    assert history.stack.command(0).judgement_uuid != recorded.uuid


def test_opening_another_project_forgets_the_stack(store):
    history = SubmissionHistory()
    prompt_id = store.prompt_ids()[0]
    save(store, history, prompt_id, answer_ids(store, prompt_id))
    history.clear()
    assert not history.can_undo()


def redo_key(qtbot, view):
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)


def test_ctrl_shift_z_saves_the_withdrawn_ranking_again_and_goes_on(qtbot, project):  # noqa: F811
    window = open_window(qtbot, project)
    view = window.task_view
    first = view.prompt.id
    type_keys(qtbot, window, "2 1 4 3 \n")
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert view.prompt.id == first
    assert window.store.stats().judgements == 0
    redo_key(qtbot, view)
    assert window.statusBar().currentMessage() == "Saved again (6 pairs)."
    assert view.prompt.id != first
    assert window.store.stats().judgements == 1
    assert view.progress.done == 1
    redo_key(qtbot, view)
    assert window.statusBar().currentMessage() == "Nothing to redo."


def test_a_redo_that_cannot_be_written_can_be_tried_again(qtbot, project):  # noqa: F811
    window = open_window(qtbot, project, busy_timeout_s=0.05)
    view = window.task_view
    type_keys(qtbot, window, "1 2 3 4 \n")
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    blocker = sqlite3.connect(project, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    redo_key(qtbot, view)
    assert "Not saved again" in window.statusBar().currentMessage()
    blocker.execute("COMMIT")
    blocker.close()
    redo_key(qtbot, view)
    assert window.store.stats().judgements == 1
