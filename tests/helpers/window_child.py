"""The real window in a process of its own, for tests/test_ui_durability.py: a test cannot SIGKILL
itself, so that test runs this file as `python -m pytest tests/helpers/window_child.py -s` with the
project's path in LABELER_WINDOW_CHILD_PROJECT, and kills this process. Anywhere else it is skipped
(and its name keeps it out of pytest's collection of tests/).

One line each way, on stdin and stdout:
  child:  "open LABELER_FILE"  the window is open and its worker jobs have reported (the file says
                               which labeler code the window runs)
  parent: "rank N"             the child ranks N prompts with keys, Enter after each, and prints
  child:  "saved UUID PAIRS"   once the window says that judgement is saved, for each, then
  child:  "ready"              it waits for the next line (the parent kills it there)
"""

import os
import re
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt

import labeler
from labeler.store import open_store
from labeler.ui.app import GUI_BUSY_TIMEOUT_S
from labeler.ui.main_window import MainWindow

PROJECT_VARIABLE = "LABELER_WINDOW_CHILD_PROJECT"
SAVED_MESSAGE = re.compile(r"Saved \((?P<pairs>\d+) pairs?\)\.")

pytestmark = pytest.mark.skipif(PROJECT_VARIABLE not in os.environ, reason="run by tests/test_ui_durability.py")


def say(line: str) -> None:
    print(line, flush=True)


def open_window_as_the_app_does(qtbot, project: Path) -> MainWindow:
    """The window on `project` as `labeler gui` opens it, once its worker jobs (the progress count
    and the stats line, each on a store of its own) have reported, as they do before anyone ranks."""
    settings = QSettings(str(project.parent / "settings.ini"), QSettings.Format.IniFormat)  # never the user's
    window = MainWindow(open_store(project, busy_timeout_s=GUI_BUSY_TIMEOUT_S), "tester", settings)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # the labelling shortcuts work in the active window only
    qtbot.waitUntil(lambda: window.task_view.progress is not None)
    qtbot.waitUntil(lambda: re.match(r"[\d,]+ prompts? ·", window.statusBar().currentMessage()) is not None)
    return window


def rank_and_submit(qtbot, window: MainWindow) -> tuple[str, int]:
    """Rank the shown prompt's answers in their numbered order, press Enter, and wait until the
    window says the judgement is saved; its uuid and the pairs the window reported."""
    view = window.task_view
    newest_before = newest_saved(view)
    for number in range(1, len(view.order) + 1):
        qtbot.keyClick(view, str(number))
    qtbot.keyClick(view, Qt.Key.Key_Return)
    # A save the file refused for a moment is retried by a timer: wait for the window, not a delay.
    qtbot.waitUntil(lambda: newest_saved(view) != newest_before and saved_report(window) is not None)
    return newest_saved(view), int(saved_report(window)["pairs"])


def newest_saved(view) -> str | None:
    """The uuid of the judgement Ctrl+Z would withdraw (the stack keeps a session's newest ones)."""
    stack = view.submissions.stack
    return stack.command(stack.index() - 1).judgement_uuid if stack.index() else None


def saved_report(window: MainWindow) -> re.Match | None:
    """The status bar's "Saved (N pairs)." after a save, if that is what it shows."""
    return SAVED_MESSAGE.fullmatch(window.statusBar().currentMessage())


def test_the_window_ranks_what_the_parent_asks_for(qtbot):
    window = open_window_as_the_app_does(qtbot, Path(os.environ[PROJECT_VARIABLE]))
    say(f"open {labeler.__file__}")
    for command in sys.stdin:  # until the parent kills this process (or closes the pipe)
        for _ in range(int(command.removeprefix("rank "))):
            say("saved {} {}".format(*rank_and_submit(qtbot, window)))
        say("ready")
