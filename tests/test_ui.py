"""The app's window, driven through real widgets and shortcuts (pytest-qt, offscreen)."""

from pathlib import Path

import pytest
from PySide6.QtCore import QStandardPaths, Qt

from labeler.store import NewAnswer, open_store
from labeler.ui.app import DEMO_FILE_NAME, display_problem, ensure_demo_project
from labeler.ui.main_window import MainWindow
from labeler.ui.markdown_view import MAX_RENDERED_CHARS, MarkdownView


@pytest.fixture
def window(qtbot, seeded_store):
    store, _ = seeded_store
    shown = MainWindow(store, "ann")
    qtbot.addWidget(shown)
    shown.show()
    return shown


def answer_cards(window):
    return [window.answers_layout.itemAt(i).widget() for i in range(window.answers_layout.count())]


def test_the_window_lists_prompts_and_shows_the_first(window, seeded_store):
    _store, seeded = seeded_store
    assert window.prompt_model.rowCount() == len(seeded)
    assert window.prompt_view.toPlainText() == "prompt number 0"
    assert len(answer_cards(window)) == len(seeded[0][1])
    assert "8 prompts" in window.statusBar().currentMessage()


def test_arrow_keys_move_through_prompts(qtbot, window, seeded_store):
    _, seeded = seeded_store
    window.prompt_list.setFocus()
    qtbot.keyClick(window.prompt_list, Qt.Key.Key_Down)
    qtbot.keyClick(window.prompt_list, Qt.Key.Key_Down)
    assert window.prompt_view.toPlainText() == "prompt number 2"
    cards = answer_cards(window)
    assert len(cards) == len(seeded[2][1])
    assert cards[0].title().startswith("Answer 1 · model-")


def test_a_huge_answer_is_cut_and_the_chat_is_shown_as_turns(qtbot, store):
    chat = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Write a lot"},
    ]
    store.add_prompt(chat, [NewAnswer("x" * 1_000_000), NewAnswer("short")])
    shown = MainWindow(store, "ann")
    qtbot.addWidget(shown)
    assert "[user]\nHi" in shown.prompt_view.toPlainText()
    assert shown.prompt_model.data(shown.prompt_model.index(0)).startswith("[chat] Write a lot")
    text_view = answer_cards(shown)[0].findChild(MarkdownView).browser
    assert len(text_view.toPlainText()) < MAX_RENDERED_CHARS + 100


def test_answer_text_is_never_rendered_as_html(qtbot, store):
    store.add_prompt("<b>bold?</b>", [NewAnswer("<img src='/etc/passwd'>"), NewAnswer("<a href='x'>link</a>")])
    shown = MainWindow(store, "ann")
    qtbot.addWidget(shown)
    assert shown.prompt_view.toPlainText() == "<b>bold?</b>"
    cards = answer_cards(shown)
    assert cards[0].findChild(MarkdownView).browser.toPlainText().strip() == "<img src='/etc/passwd'>"


def test_opening_a_non_project_keeps_the_current_one(qtbot, window, tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr("labeler.ui.main_window.QMessageBox.warning", lambda *args: warnings.append(args[2]))
    bad = tmp_path / "notes.txt"
    bad.write_text("not a project")
    window.open_project(bad)
    assert warnings
    assert "not a project file" in warnings[0]
    assert window.prompt_model.rowCount() == 8


def test_opening_another_project(qtbot, window, tmp_path):
    other = tmp_path / "other.db"
    with open_store(other, create=True) as store:
        store.add_prompt("the other project's prompt", [NewAnswer("a"), NewAnswer("b")])
    window.open_project(other)
    assert window.windowTitle().startswith("other.db")
    assert window.prompt_view.toPlainText() == "the other project's prompt"


def test_ctrl_q_closes_the_window(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert not window.isVisible()


def test_the_demo_is_copied_once_to_the_user_data_folder(qapp, tmp_path):
    QStandardPaths.setTestModeEnabled(True)
    path = ensure_demo_project(tmp_path)
    assert path == tmp_path / DEMO_FILE_NAME
    with open_store(path) as store:
        store.save_draft("ann", store.prompt_ids()[0], {"typed": [1]})
    # A second start keeps the user's copy (and its work) as it is.
    assert ensure_demo_project(tmp_path) == path
    with open_store(path) as store:
        assert store.stats().drafts == 1
    assert sorted(p.name for p in Path(tmp_path).iterdir() if not p.name.startswith(DEMO_FILE_NAME)) == []


def test_a_missing_display_is_explained_before_qt_aborts(monkeypatch):
    assert "no display" in display_problem({})
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    monkeypatch.setattr("ctypes.util.find_library", lambda name: None)
    problem = display_problem({"DISPLAY": ":0"})
    assert "libxcb-cursor" in problem
    assert "apt-get install libxcb-cursor0" in problem


def test_file_menu_imports_exports_and_snapshots_off_the_gui_thread(qtbot, store, tmp_path, monkeypatch):
    import json

    from labeler.store import open_store

    data = tmp_path / "more.jsonl"
    data.write_text(json.dumps({"prompt": "Imported?", "answers": ["yes", "no"], "ranking": [0, 1]}) + "\n")
    shown = MainWindow(store, "ann")
    qtbot.addWidget(shown)
    monkeypatch.setattr("labeler.ui.main_window.QFileDialog.getOpenFileNames", lambda *a, **k: ([str(data)], ""))
    shown.import_action.trigger()
    qtbot.waitUntil(lambda: "Imported 1 rows" in shown.statusBar().currentMessage(), timeout=10000)
    assert shown.prompt_model.rowCount() == 1
    assert shown.task_view.prompt is None  # the imported prompt was judged by "import", one judge wanted

    out = tmp_path / "pairs.jsonl"
    monkeypatch.setattr("labeler.ui.main_window.QFileDialog.getSaveFileName", lambda *a, **k: (str(out), ""))
    shown.export_action.trigger()
    qtbot.waitUntil(lambda: "Wrote 1 pairs" in shown.statusBar().currentMessage(), timeout=10000)
    assert json.loads(out.read_text())["chosen"] == [{"role": "assistant", "content": "yes"}]

    copy = tmp_path / "copy.db"
    monkeypatch.setattr("labeler.ui.main_window.QFileDialog.getSaveFileName", lambda *a, **k: (str(copy), ""))
    shown.snapshot_action.trigger()
    qtbot.waitUntil(copy.exists, timeout=10000)
    qtbot.waitUntil(lambda: shown.statusBar().currentMessage().startswith("Wrote"), timeout=10000)
    with open_store(copy) as copied:
        assert copied.stats().judgements == 1


def test_a_bad_import_file_is_reported_and_nothing_changes(qtbot, store, tmp_path, monkeypatch):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "answers": ["only one"]}\n')
    warnings = []
    monkeypatch.setattr("labeler.ui.main_window.QMessageBox.warning", lambda *args: warnings.append(args[2]))
    monkeypatch.setattr("labeler.ui.main_window.QFileDialog.getOpenFileNames", lambda *a, **k: ([str(bad)], ""))
    shown = MainWindow(store, "ann")
    qtbot.addWidget(shown)
    shown.import_action.trigger()
    qtbot.waitUntil(lambda: bool(warnings), timeout=10000)
    assert "Nothing was imported" in warnings[0]
    assert f"{bad}:1: 2 to 9 answers" in warnings[0]
    assert store.stats().prompts == 0
