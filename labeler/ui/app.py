"""Start the desktop app: the QApplication, the project to open, the main window."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QApplication, QMessageBox

from labeler.demo import build_demo_project
from labeler.store import StoreError, open_store
from labeler.ui.main_window import MainWindow

APP_NAME = "labeler"
DEMO_FILE_NAME = "demo-project.db"


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


def run_app(project: Path | None) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    try:
        path = project if project is not None else ensure_demo_project(user_data_dir())
        store = open_store(path)
    except StoreError as error:
        QMessageBox.critical(None, "Cannot open the project", str(error))
        print(f"labeler: error: {error}", file=sys.stderr)
        return 1
    window = MainWindow(store)
    window.show()
    return app.exec()
