"""The app's window, driven through real widgets and shortcuts (pytest-qt, offscreen)."""

import json
import time
from pathlib import Path

import pytest
from helpers.projects import make_project
from PySide6.QtCore import QSettings, QStandardPaths, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QLabel

from labeler.store import NewAnswer, open_store
from labeler.ui.app import DEMO_FILE_NAME, display_problem, ensure_demo_project
from labeler.ui.main_window import MainWindow
from labeler.ui.markdown_view import MAX_RENDERED_CHARS, MarkdownView


def settings_in(folder: Path) -> QSettings:
    """Settings in a file of the test's own, never the user's."""
    return QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, seeded_store, tmp_path):
    store, _ = seeded_store
    shown = MainWindow(store, "ann", settings_in(tmp_path))
    qtbot.addWidget(shown)
    shown.show()
    return shown


def browse(window):
    """Show the Browse tab (filled when first shown, its filter run on a worker) and wait for its prompts."""
    window.tabs.setCurrentIndex(1)
    deadline = time.monotonic() + 10
    while window.browse.searching and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.005)
    assert not window.browse.searching
    return window


def answer_cards(window):
    return [window.browse.answers_layout.itemAt(i).widget() for i in range(window.browse.answers_layout.count())]


def test_the_window_lists_prompts_and_shows_the_first(qtbot, window, seeded_store):
    _store, seeded = seeded_store
    assert not window.browse.filled  # filled when the tab is first shown: the window opens faster
    browse(window)
    assert window.browse.table_model.rowCount() == len(seeded)
    assert window.browse.prompt_view.toPlainText().strip() == "prompt number 0"
    assert len(answer_cards(window)) == len(seeded[0][1])
    qtbot.waitUntil(lambda: "8 prompts" in window.statusBar().currentMessage())  # counted on a worker


def test_arrow_keys_move_through_prompts(qtbot, window, seeded_store):
    _, seeded = seeded_store
    browse(window)
    window.browse.table.setFocus()
    qtbot.keyClick(window.browse.table, Qt.Key.Key_Down)
    qtbot.keyClick(window.browse.table, Qt.Key.Key_Down)
    assert window.browse.prompt_view.toPlainText().strip() == "prompt number 2"
    cards = answer_cards(window)
    assert len(cards) == len(seeded[2][1])
    assert cards[0].title().startswith("Answer 1 · model-")


def test_a_huge_answer_is_cut_and_the_chat_is_shown_as_turns(qtbot, store, tmp_path):
    chat = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Write a lot"},
    ]
    store.add_prompt(chat, [NewAnswer("x" * 1_000_000), NewAnswer("short")])
    shown = browse(MainWindow(store, "ann", settings_in(tmp_path)))
    qtbot.addWidget(shown)
    turns = ["User", "Hi", "Assistant", "Hello", "User", "Write", "a", "lot"]
    assert shown.browse.prompt_view.toPlainText().split() == turns
    assert shown.browse.table_model.data(shown.browse.table_model.index(0, 1)).startswith("[chat] Write a lot")
    text_view = answer_cards(shown)[0].findChild(MarkdownView).browser
    assert len(text_view.toPlainText().replace("\u200b", "")) < MAX_RENDERED_CHARS + 100


def test_answer_text_is_never_rendered_as_html(qtbot, store, tmp_path):
    store.add_prompt("<b>bold?</b>", [NewAnswer("<img src='/etc/passwd'>"), NewAnswer("<a href='x'>link</a>")])
    shown = browse(MainWindow(store, "ann", settings_in(tmp_path)))
    qtbot.addWidget(shown)
    assert shown.browse.prompt_view.toPlainText().strip() == "<b>bold?</b>"
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
    assert browse(window).browse.table_model.rowCount() == 8


def test_opening_another_project(qtbot, window, tmp_path):
    other = tmp_path / "other.db"
    make_project(other, {"the other project's prompt": ["a", "b"]})
    window.open_project(other)
    assert window.windowTitle().startswith("other.db")
    assert window.task_view.prompt_view.toPlainText().strip() == "the other project's prompt"
    assert browse(window).browse.prompt_view.toPlainText().strip() == "the other project's prompt"


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
    shown = MainWindow(store, "ann", settings_in(tmp_path))
    qtbot.addWidget(shown)
    monkeypatch.setattr("labeler.ui.file_dialogs.open_file_names", lambda *a, **k: [str(data)])
    shown.import_action.trigger()
    qtbot.waitUntil(lambda: "Imported 1 row" in shown.statusBar().currentMessage(), timeout=10000)
    assert browse(shown).browse.table_model.rowCount() == 1
    assert shown.task_view.prompt is None  # the imported prompt was judged by "import", one judge wanted

    out = tmp_path / "pairs.jsonl"
    monkeypatch.setattr("labeler.ui.file_dialogs.save_file_name", lambda *a, **k: str(out))
    shown.export_action.trigger()
    qtbot.waitUntil(lambda: "Wrote 1 pair " in shown.statusBar().currentMessage(), timeout=10000)
    # The imported ranking stated no strength: no margin column, and the message says why.
    assert "no margin column: only 0 of 1 pair had a stated margin" in shown.statusBar().currentMessage()
    exported = json.loads(out.read_text())
    assert exported["chosen"] == [{"role": "assistant", "content": "yes"}]
    assert "margin" not in exported

    copy = tmp_path / "copy.db"
    monkeypatch.setattr("labeler.ui.file_dialogs.save_file_name", lambda *a, **k: str(copy))
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
    monkeypatch.setattr("labeler.ui.file_dialogs.open_file_names", lambda *a, **k: [str(bad)])
    shown = MainWindow(store, "ann", settings_in(tmp_path))
    qtbot.addWidget(shown)
    shown.import_action.trigger()
    qtbot.waitUntil(lambda: bool(warnings), timeout=10000)
    assert "Nothing was imported" in warnings[0]
    assert f"{bad}:1: 2 to 9 answers" in warnings[0]
    assert store.stats().prompts == 0


def test_every_labelling_command_is_in_a_menu_with_its_shortcut(window):
    from labeler.ui.actions import LABELLING_COMMANDS, WINDOW_COMMANDS

    def menu_actions(menu):
        for action in menu.actions():
            yield action
            if action.menu():
                yield from menu_actions(action.menu())

    in_menus = {a for top in window.menuBar().actions() for a in menu_actions(top.menu())}
    labelling = window.task_view.actions_by_name
    for command in LABELLING_COMMANDS:
        assert labelling[command.name] in in_menus, command.name
        assert labelling[command.name].shortcut().toString() == QKeySequence(command.shortcuts[0]).toString()
    for command in WINDOW_COMMANDS:
        assert window.window_actions[command.name] in in_menus, command.name


def test_ctrl_plus_and_minus_change_the_text_size_and_it_is_remembered(qtbot, seeded_store, tmp_path):
    store, _ = seeded_store
    shown = MainWindow(store, "ann", settings_in(tmp_path))
    qtbot.addWidget(shown)
    shown.show()
    shown.activateWindow()
    qtbot.waitUntil(shown.isActiveWindow)
    start = shown.task_view.font().pointSizeF()
    card = shown.task_view.deck.cards()[0]
    qtbot.keyClick(shown, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(shown, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)  # the + key unshifted
    assert shown.task_view.font().pointSizeF() == start + 2
    assert card.body.browser.font().pointSizeF() == start + 2  # answers grow too
    assert card.number_label.font().pointSizeF() > start + 2  # and the card numbers stay larger
    qtbot.keyClick(shown, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert shown.task_view.font().pointSizeF() == start + 1
    shown.close()
    again = MainWindow(open_store(store.path), "ann", settings_in(tmp_path))
    qtbot.addWidget(again)
    assert again.task_view.font().pointSizeF() == start + 1
    again.show()
    again.activateWindow()
    qtbot.waitUntil(again.isActiveWindow)
    qtbot.keyClick(again, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert again.task_view.font().pointSizeF() == start


def test_window_geometry_and_the_guidelines_panel_are_remembered(qtbot, seeded_store, tmp_path):
    store, _ = seeded_store
    shown = MainWindow(store, "ann", settings_in(tmp_path))
    qtbot.addWidget(shown)
    shown.show()
    shown.resize(700, 520)  # within the offscreen screen (800 x 600)
    shown.guidelines_action.trigger()
    qtbot.waitUntil(lambda: shown.size().width() == 700)
    assert not shown.guidelines_dock.isHidden()
    shown.close()
    again = MainWindow(open_store(store.path), "ann", settings_in(tmp_path))
    qtbot.addWidget(again)
    again.show()
    assert (again.width(), again.height()) == (700, 520)
    assert not again.guidelines_dock.isHidden()
    assert again.guidelines_action.isChecked()


def test_file_new_creates_a_project_and_opens_it(qtbot, window, tmp_path, monkeypatch):
    target = tmp_path / "fresh"
    monkeypatch.setattr("labeler.ui.file_dialogs.save_file_name", lambda *a, **k: str(target))
    window.new_action.trigger()
    created = tmp_path / "fresh.db"
    assert window.store.path == created
    assert window.windowTitle().startswith("fresh.db")
    assert window.store.guidelines()[0] == 1
    assert window.store.setting("annotators_per_prompt") == 1
    qtbot.waitUntil(lambda: "no prompts yet" in window.task_view.heading.text())
    assert window.progress_bar.value() == 0
    warnings = []
    monkeypatch.setattr("labeler.ui.main_window.QMessageBox.warning", lambda *args: warnings.append(args[2]))
    window.new_project(created)  # never over an existing project
    assert "already exists" in warnings[0]


def test_open_recent_lists_projects_most_recent_first_and_forgets_missing_ones(qtbot, window, tmp_path):
    from labeler.ui.project_files import recent_projects

    first_project = window.store.path.resolve()
    others = []
    for name in ("b.db", "c.db"):
        path = tmp_path / name
        make_project(path, {f"prompt of {name}": ["a", "b"]})
        window.open_project(path)
        others.append(path.resolve())
    assert recent_projects(window.settings) == [others[1], others[0], first_project]
    window.recent_menu.aboutToShow.emit()
    entries = [a.statusTip() for a in window.recent_menu.actions()]
    assert entries == [str(others[0]), str(first_project)]  # the open one is not offered
    others[0].unlink()
    window.recent_menu.aboutToShow.emit()
    assert [a.statusTip() for a in window.recent_menu.actions()] == [str(first_project)]
    window.recent_menu.actions()[0].trigger()
    assert window.store.path.resolve() == first_project
    assert recent_projects(window.settings)[0] == first_project


def test_the_help_overlay_lists_every_key_and_any_key_closes_it_without_ranking(qtbot, window):
    from labeler.ui.actions import LABELLING_COMMANDS, WINDOW_COMMANDS
    from labeler.ui.help_overlay import HelpOverlay

    view = window.task_view
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(view, Qt.Key.Key_F1)
    overlay = view.findChild(HelpOverlay)
    assert overlay.isVisible()
    assert overlay.geometry() == view.rect()
    shown = {label.text() for label in overlay.findChildren(QLabel)}
    for command in LABELLING_COMMANDS + WINDOW_COMMANDS:
        if command.shortcuts and not command.name.startswith("place_"):  # every key; a menu-only command has none
            assert command.tip in shown
    qtbot.keyClick(overlay, "1")
    assert not overlay.isVisible()
    assert view.input.describe() == ""  # the key closed the help and did nothing else
    qtbot.keyClick(view, "1")
    assert view.input.describe() == "1 >> 2"  # a pair: the other answer placed last by itself


def test_code_is_coloured_for_the_palette_and_recoloured_when_the_system_switches(qtbot, tmp_path, store):
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication

    from labeler.ui.style import is_dark

    store.add_prompt("Code?", [NewAnswer("```python\ndef f():\n    return 1\n```"), NewAnswer("no")])
    shown = MainWindow(store, "ann", settings_in(tmp_path))
    qtbot.addWidget(shown)
    shown.show()
    body = next(
        shown.task_view.deck.cards()[i].body for i in range(2) if "def" in shown.task_view.deck.cards()[i].body.text
    )
    assert "#007020" in body.browser.toHtml().lower()  # light: Pygments' friendly colours
    app = QApplication.instance()
    light = app.palette()
    dark = QPalette(light)
    for role, colour in ((QPalette.ColorRole.Base, "#1f1f1f"), (QPalette.ColorRole.Text, "#e8e8e8")):
        dark.setColor(role, QColor(colour))
    try:
        app.setPalette(dark)  # what Qt does when the desktop switches to a dark scheme
        qtbot.waitUntil(lambda: is_dark(body.palette()))
        assert "#c678dd" in body.browser.toHtml().lower()  # one-dark colours for a dark background
    finally:
        app.setPalette(light)


def test_the_prompt_table_model_passes_qtmodeltester(qtmodeltester, seeded_store):
    from labeler.store.browsing import PromptFilter, matching_prompts
    from labeler.ui.prompt_table import PromptTableModel

    store, _ = seeded_store
    store.add_prompt([{"role": "user", "content": "a chat"}], [NewAnswer("a"), NewAnswer("b")])
    model = PromptTableModel(store)
    model.show_ids(matching_prompts(store, PromptFilter()))
    qtmodeltester.check(model, force_py=False)
    qtmodeltester.check(model, force_py=True)  # pytest-qt's own checks as well as Qt's
    assert model.rowCount() == 9


def test_a_prompt_with_more_than_nine_answers_is_browsable_but_never_a_task(qtbot, store, tmp_path):
    # The importer refuses more than 9 answers in a row, but answers added to a prompt later (or
    # through the store) can take it past 9: the keys only go to 9, so the queue leaves it out.
    store.add_prompt("ten answers", [NewAnswer(f"answer {n}") for n in range(10)])
    store.add_prompt("two answers", [NewAnswer("a"), NewAnswer("b")])
    shown = browse(MainWindow(store, "ann", settings_in(tmp_path)))
    qtbot.addWidget(shown)
    assert shown.browse.table_model.rowCount() == 2
    assert shown.browse.prompt_view.toPlainText().strip() == "ten answers"
    assert len(answer_cards(shown)) == 10
    assert shown.task_view.prompt_view.toPlainText().strip() == "two answers"
    qtbot.waitUntil(lambda: shown.task_view.progress is not None)
    assert shown.progress_bar.maximum() == 1


def test_qt_calls_returning_nothing_do_not_use_up_none(qapp):
    # PySide6 6.12.0 on Python 3.11 took a reference from None on every call of a Qt method
    # returning void: the app died ("deallocating None") after some tens of thousands of calls,
    # minutes of labelling. pyproject.toml excludes it; this catches a version that does it again.
    import sys

    label = QLabel()
    keep = [None] * 5_000  # so a faulty version fails here instead of crashing the test run
    before = sys.getrefcount(None)
    for _ in range(1_000):
        label.setText("x")
        label.update()
    lost = before - sys.getrefcount(None)
    del keep
    assert lost < 100


def test_the_annotator_is_asked_once_and_remembered(qapp, tmp_path, monkeypatch):
    from labeler.ui.app import annotator_name

    asked = []
    monkeypatch.setattr(
        "labeler.ui.app.QInputDialog.getText", lambda *args: asked.append(args[1]) or ("  Maya  ", True)
    )
    settings = settings_in(tmp_path)
    assert annotator_name(None, settings) == "Maya"
    assert annotator_name(None, settings) == "Maya"  # remembered: not asked again
    assert len(asked) == 1
    assert annotator_name("Tom", settings) == "Tom"  # given on the command line, and remembered
    assert annotator_name(None, settings) == "Tom"
    monkeypatch.setattr("labeler.ui.app.QInputDialog.getText", lambda *args: ("", False))
    assert annotator_name(None, settings_in(tmp_path / "new")) is None  # cancelled: the app does not open


def test_the_annotator_is_shown_in_the_status_bar(window):
    assert "Annotator: ann" in [label.text() for label in window.statusBar().findChildren(QLabel)]


@pytest.mark.parametrize("arguments", [[], ["gui", "{project}", "--annotator", "ann"]])
def test_the_real_app_starts_on_its_first_task_without_torch(tmp_path, seeded_store, arguments):
    # `labeler` alone opens the demo (copied into the user's data folder); `labeler gui PROJECT`
    # a project. LABELER_EXIT_ON_FIRST_TASK makes the app report its first painted task and quit.
    import json
    import os
    import subprocess
    import sys

    store, _ = seeded_store
    home = tmp_path / "home"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "LABELER_EXIT_ON_FIRST_TASK": "1",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
    }
    if not arguments:  # the name is asked once; here it is remembered from an earlier start
        (home / "config" / "labeler").mkdir(parents=True)
        (home / "config" / "labeler" / "labeler.conf").write_text("[General]\nannotator=ann\n")
    command = [sys.executable, "-m", "labeler", *(a.replace("{project}", str(store.path)) for a in arguments)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["torch_imported"] is False
    if not arguments:
        assert list((home / "data").rglob("demo-project.db"))


def test_a_pair_is_judged_with_one_number_and_enter(qtbot, window, seeded_store):
    """The first seeded prompt has two answers: "2" places answer 2 first and answer 1, the one left, last."""
    _store, seeded = seeded_store
    view = window.task_view
    shown = list(view.order)  # answer ids as numbered on the cards
    qtbot.keyClick(view, "2")
    assert view.strip.spot("chip", 1).tier == 1
    qtbot.keyClick(view, Qt.Key.Key_Return)
    row = window.store.conn.execute("SELECT prompt_id, tiers FROM judgements").fetchone()
    assert row[0] == seeded[0][0]
    assert json.loads(row[1]) == [[shown[1]], [shown[0]]]
