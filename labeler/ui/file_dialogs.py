"""File dialogs that never open the files they list.

To show a file's icon and type, Qt's file dialog asks the MIME database, which reads the first bytes
of every file it lists: the open project, its -wal and its -shm included. Closing that descriptor
drops every POSIX lock the app holds on the file, SQLite's included (sqlite.org, "How To Corrupt An
SQLite Database File", 2.2): any other process that then closed the project (`labeler stats`, a
trainer) believed it was the last one using it and deleted the write-ahead log under the window, and
the judgements saved after that were lost at the next crash (issue 14, seen with strace). Native
dialogs are no better where they run inside our process (GTK's reads content types the same way).

So every dialog here is Qt's own widget dialog, with an icon provider that answers from the file's
name alone: a generic file or folder icon, and the type from the suffix.
"""

from __future__ import annotations

from PySide6.QtCore import QFileInfo
from PySide6.QtWidgets import QFileDialog, QFileIconProvider, QWidget


class NameOnlyIconProvider(QFileIconProvider):
    """Icons and types from a file's name and kind (stat), never from its content."""

    def __init__(self) -> None:
        super().__init__()
        self.file_icon = super().icon(QFileIconProvider.IconType.File)
        self.folder_icon = super().icon(QFileIconProvider.IconType.Folder)

    def icon(self, what):  # Qt overloads it: an IconType or a QFileInfo
        if isinstance(what, QFileInfo):
            return self.folder_icon if what.isDir() else self.file_icon
        return super().icon(what)

    def type(self, info: QFileInfo) -> str:
        if info.isDir():
            return "Folder"
        return f"{info.suffix().upper()} file" if info.suffix() else "File"


def file_dialog(parent: QWidget | None, caption: str, name_filter: str, mode: QFileDialog.FileMode) -> QFileDialog:
    """A dialog that lists files without reading them (see the module docstring)."""
    dialog = QFileDialog(parent, caption, "", name_filter)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.icon_provider = NameOnlyIconProvider()  # kept by the dialog: Qt does not own it
    dialog.setIconProvider(dialog.icon_provider)
    dialog.setFileMode(mode)
    return dialog


def open_file_names(parent: QWidget | None, caption: str, name_filter: str) -> list[str]:
    """Existing files the user chose; none if cancelled."""
    dialog = file_dialog(parent, caption, name_filter, QFileDialog.FileMode.ExistingFiles)
    return dialog.selectedFiles() if dialog.exec() else []


def open_file_name(parent: QWidget | None, caption: str, name_filter: str) -> str:
    """An existing file the user chose; "" if cancelled."""
    dialog = file_dialog(parent, caption, name_filter, QFileDialog.FileMode.ExistingFile)
    return dialog.selectedFiles()[0] if dialog.exec() else ""


def save_file_name(parent: QWidget | None, caption: str, name_filter: str) -> str:
    """A file name to write to; "" if cancelled."""
    dialog = file_dialog(parent, caption, name_filter, QFileDialog.FileMode.AnyFile)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    return dialog.selectedFiles()[0] if dialog.exec() else ""


def existing_directory(parent: QWidget | None, caption: str, start: str = "") -> str:
    """A folder the user chose; "" if cancelled."""
    dialog = file_dialog(parent, caption, "", QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    if start:
        dialog.setDirectory(start)
    return dialog.selectedFiles()[0] if dialog.exec() else ""
