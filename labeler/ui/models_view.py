"""The Models tab: the trainer's runs of this project and what each learned, without leaving the app.

A table of the runs in the project's models folder (`<project>.models/` unless the user picks another
one), newest first: name, kind, when, and the figure that says how it went (a reward model's held-out
accuracy beside the annotators' own agreement, the ceiling, and "the longer answer wins", the bar to
clear). The chosen run's metrics.json is shown in full below. Read again whenever the tab is shown
(a few small files: no worker needed).
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from labeler.model_runs import ModelRun, default_models_folder, list_runs
from labeler.ui import file_dialogs

COLUMNS = ("Run", "Kind", "Finished", "How it went")


class ModelsView(QWidget):
    def __init__(self, project: Path, settings: QSettings):
        super().__init__()
        self.settings = settings
        self.project = project
        self.runs: list[ModelRun] = []
        self.folder_label = QLabel()
        self.folder_label.setTextFormat(Qt.TextFormat.PlainText)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        choose = QPushButton("Other folder…")
        choose.clicked.connect(self._choose_folder)
        top = QHBoxLayout()
        top.addWidget(self.folder_label, stretch=1)
        top.addWidget(choose)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.currentCellChanged.connect(lambda row, *_: self._show_run(row))
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.empty_note = QLabel()
        self.empty_note.setWordWrap(True)
        self.empty_note.setTextFormat(Qt.TextFormat.PlainText)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.details)
        split.setSizes([300, 400])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.empty_note)
        layout.addWidget(split, stretch=1)

    def set_project(self, project: Path) -> None:
        self.project = project

    @property
    def folder(self) -> Path:
        """The folder chosen for this project, else `<project>.models/`."""
        chosen = self.settings.value(f"models_folder/{self.project.resolve()}")
        return Path(chosen) if chosen else default_models_folder(self.project)

    def refresh(self) -> None:
        """List the runs again (a run may have finished since)."""
        shown = self.runs[self.table.currentRow()].name if 0 <= self.table.currentRow() < len(self.runs) else None
        self.runs = list_runs(self.folder)
        self.folder_label.setText(f"Runs in {self.folder}")
        self.empty_note.setText(
            ""
            if self.runs
            else f"No run here yet. Train one with, for example: labeler-train reward {self.project} "
            f"--out {self.folder / 'reward-1'}"
        )
        self.empty_note.setVisible(not self.runs)
        self.table.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            finished = run.modified.astimezone().strftime("%Y-%m-%d %H:%M") if run.finished else "not finished"
            for column, text in enumerate((run.name, run.kind, finished, run.headline)):
                self.table.setItem(row, column, QTableWidgetItem(text))
        names = [run.name for run in self.runs]
        self.table.selectRow(names.index(shown) if shown in names else 0)
        if not self.runs:
            self.details.setPlainText("")

    def _show_run(self, row: int) -> None:
        if 0 <= row < len(self.runs):
            run = self.runs[row]
            shown = json.dumps(run.metrics, indent=2) if run.metrics else run.headline
            self.details.setPlainText(f"{run.folder}\n\n{shown}")

    def _choose_folder(self) -> None:
        chosen = file_dialogs.existing_directory(self, "Folder of model runs", str(self.folder.parent))
        if chosen:
            self.settings.setValue(f"models_folder/{self.project.resolve()}", chosen)
            self.refresh()
