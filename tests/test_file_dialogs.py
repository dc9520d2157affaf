"""The app's file dialogs list the open project's folder without opening its files (issue 14).

Qt's own icon provider reads the first bytes of each listed file to guess its type; closing that
descriptor dropped the app's SQLite locks, and the next `labeler stats` deleted the write-ahead log
under the window (checked by hand with Qt's default provider: the -wal was gone after one listing).
"""

import subprocess
import sys
from pathlib import Path

from helpers.projects import make_project
from PySide6.QtCore import QFileInfo
from PySide6.QtWidgets import QFileDialog, QFileSystemModel

from labeler.store import NewAnswer, open_store
from labeler.ui.file_dialogs import NameOnlyIconProvider, file_dialog

LABELER = Path(sys.executable).parent / "labeler"


def test_listing_the_open_projects_folder_leaves_its_locks_alone(qtbot, tmp_path):
    project = tmp_path / "project.db"
    make_project(project, {"p": ["a", "b"]})
    with open_store(project) as store:
        store.stats()  # a read: the connection now holds its lock, as the window's does
        dialog = file_dialog(None, "Open project", "All files (*)", QFileDialog.FileMode.ExistingFile)
        qtbot.addWidget(dialog)
        dialog.setDirectory(str(tmp_path))
        dialog.show()
        model = dialog.findChild(QFileSystemModel)
        root = model.index(str(tmp_path))

        def every_file_typed() -> bool:
            rows = [model.index(row, 2, root) for row in range(model.rowCount(root))]
            return len(rows) >= 3 and all(model.data(index) for index in rows)  # project, -wal, -shm

        qtbot.waitUntil(every_file_typed, timeout=10_000)
        types = {model.data(model.index(row, 0, root)): model.data(model.index(row, 2, root)) for row in range(3)}
        assert types["project.db"] == "DB file"  # told by our provider, from the name alone
        assert types["project.db-wal"] == "DB-WAL file"

        other = subprocess.run([LABELER, "stats", project], capture_output=True, text=True, timeout=60)
        assert other.returncode == 0, other.stderr
        assert (tmp_path / "project.db-wal").exists(), "another process deleted the log under the open project"
        store.add_prompt("q", [NewAnswer("c"), NewAnswer("d")])
    reopened = subprocess.run([LABELER, "stats", project, "--json"], capture_output=True, text=True, timeout=60)
    assert '"prompts": 2' in reopened.stdout


def test_the_provider_names_types_from_suffixes(qtbot, tmp_path):
    provider = NameOnlyIconProvider()
    (tmp_path / "notes").write_text("x")
    assert provider.type(QFileInfo(str(tmp_path))) == "Folder"
    assert provider.type(QFileInfo(str(tmp_path / "notes"))) == "File"
    assert provider.type(QFileInfo(str(tmp_path / "data.jsonl"))) == "JSONL file"
    assert not provider.icon(QFileInfo(str(tmp_path / "notes"))).isNull()
