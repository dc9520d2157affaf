"""Start the desktop app: the QApplication, the project to open, the main window."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSettings, QStandardPaths, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox, QWidget

from labeler.store import StoreError, open_store
from labeler.ui.main_window import MainWindow

APP_NAME = "labeler"
# The window waits at most this long for another writer's lock before saying "not saved yet" and
# retrying later: the GUI thread must not freeze for the store's default 10 s.
GUI_BUSY_TIMEOUT_S = 0.5
DEMO_FILE_NAME = "demo-project.db"
# Set (to anything) by bench/gui_bench.py: when the first task is painted, print a JSON line with
# the time (time.time()), the CPU time used so far and whether torch was imported, and quit.
EXIT_ON_FIRST_TASK = "LABELER_EXIT_ON_FIRST_TASK"
# Debian/Ubuntu packages Qt's xcb plugin needs on X11 (libxcb-cursor0 since Qt 6.5); without them
# Qt aborts the process with "Could not load the Qt platform plugin xcb".
XCB_PACKAGES = (
    "libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 "
    "libxcb-render-util0 libxcb-xinerama0 libxcb-shape0"
)
XCB_LIBRARIES = ("xcb-cursor", "xkbcommon-x11", "xcb-icccm", "xcb-image", "xcb-keysyms", "xcb-render-util")


def display_problem(environ: dict[str, str] | None = None) -> str | None:
    """Why a window cannot open here, in words, or None. Checked before Qt, which would abort."""
    environ = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    if not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        return "no display to open a window on (no DISPLAY or WAYLAND_DISPLAY); run it on a desktop"
    if environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        import ctypes.util  # 30 ms, and only needed here

        missing = [name for name in XCB_LIBRARIES if ctypes.util.find_library(name) is None]
        if missing:
            return (
                f"Qt needs system libraries that are missing ({', '.join('lib' + m for m in missing)}); "
                f"on Debian or Ubuntu: sudo apt-get install {XCB_PACKAGES}"
            )
    return None


def user_data_dir() -> Path:
    """The per-user folder for the app's own files (Qt's AppDataLocation for this app)."""
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))


def ensure_demo_project(data_dir: Path) -> Path:
    """The user's copy of the demo project, built on first run so the bundled data stays pristine.

    Built under a temporary name and renamed into place, so an interrupted first run never
    leaves a half-built demo behind.
    """
    path = data_dir / DEMO_FILE_NAME
    if path.exists():
        return path
    from labeler.demo import build_demo_project  # the importer, with pyarrow: only on the first run

    data_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=data_dir, prefix=".demo-", suffix=".db")
    os.close(handle)
    os.remove(temporary)
    try:
        build_demo_project(Path(temporary))
        os.replace(temporary, path)
    finally:
        for leftover in (temporary, temporary + "-wal", temporary + "-shm"):
            if os.path.exists(leftover):
                os.remove(leftover)
    return path


def annotator_name(given: str | None, settings: QSettings | None = None) -> str | None:
    """The name stamped on judgements: given on the command line, else remembered, else asked once."""
    settings = settings if settings is not None else QSettings()
    name = (given or settings.value("annotator", "") or "").strip()
    if not name:
        name, accepted = QInputDialog.getText(None, "Who is labelling?", "Your name (stamped on every judgement):")
        name = name.strip() if accepted else ""
    if name:
        settings.setValue("annotator", name)
    return name or None


def run_app(project: Path | None, annotator: str | None = None) -> int:
    problem = display_problem()
    if problem:
        print(f"labeler: error: {problem}", file=sys.stderr)
        return 1
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    try:
        path = project if project is not None else ensure_demo_project(user_data_dir())
        store = open_store(path, busy_timeout_s=GUI_BUSY_TIMEOUT_S)
    except StoreError as error:
        QMessageBox.critical(None, "Cannot open the project", str(error))
        print(f"labeler: error: {error}", file=sys.stderr)
        return 1
    settings = QSettings()
    name = annotator_name(annotator, settings)
    if name is None:
        store.close()
        return 1
    window = MainWindow(store, name, settings)
    if os.environ.get(EXIT_ON_FIRST_TASK):
        app.installEventFilter(FirstTaskPainted(app, window.task_view.cards_box))
    window.show()
    return app.exec()


class FirstTaskPainted(QObject):
    """Reports when the first task's cards have been painted, then quits (for the start-up bench)."""

    def __init__(self, app: QApplication, cards: QWidget):
        super().__init__(app)
        self.app = app
        self.cards = cards

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and isinstance(watched, QWidget) and self.cards.isAncestorOf(watched):
            painted = time.time()
            self.app.removeEventFilter(self)
            # After the rest of this paint pass (the window is painted in one pass, then shown).
            QTimer.singleShot(0, lambda: self._report(painted))
        return False

    def _report(self, painted: float) -> None:
        report = {
            "first_task_painted": painted,
            "cpu_seconds": time.process_time(),
            "torch_imported": "torch" in sys.modules,
        }
        print(json.dumps(report), flush=True)
        self.app.quit()
