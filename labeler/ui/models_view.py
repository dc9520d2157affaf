"""The Models tab: the trainer's runs of this project and what each learned, without leaving the app.

A table of the runs in the project's models folder (`<project>.models/` unless the user picks another
one), newest first: name, kind, when, and the figure that says how it went (a reward model's held-out
accuracy beside the annotators' own agreement, the ceiling, and "the longer answer wins", the bar to
clear; for a policy, its rating against its parent in the annotators' rankings). The chosen run's
metrics.json is shown in full below, and the project's rounds under it: judgements, agreement and the
ratings per model. The runs are read again whenever the tab is shown (a few small files: no worker
needed); the ratings come from `labeler stats`' report, computed on a worker.
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
from labeler.policy_ratings import rating_against_parent
from labeler.ui import file_dialogs, jobs
from labeler.ui.rounds_table import RoundsTable

COLUMNS = ("Run", "Kind", "Finished", "How it went")
RATING_BOOTSTRAP = 200  # resamples for the ratings' intervals: enough for a table, quick on a worker


class ModelsView(QWidget):
    def __init__(self, project: Path, settings: QSettings):
        super().__init__()
        self.settings = settings
        self.project = project
        self.runs: list[ModelRun] = []
        self.report: dict | None = None  # labeler stats' report of the project, once computed
        self.report_job: jobs.StoreJob | None = None
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

        self.rounds = RoundsTable()
        self.rounds_label = QLabel("Rounds: computing the ratings…")
        rounds_box = QWidget()
        rounds_layout = QVBoxLayout(rounds_box)
        rounds_layout.setContentsMargins(0, 0, 0, 0)
        rounds_layout.addWidget(self.rounds_label)
        rounds_layout.addWidget(self.rounds)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.details)
        split.addWidget(rounds_box)
        split.setSizes([300, 300, 200])
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
            for column, text in enumerate((run.name, run.kind, finished, self._how_it_went(run))):
                self.table.setItem(row, column, QTableWidgetItem(text))
        names = [run.name for run in self.runs]
        self.table.selectRow(names.index(shown) if shown in names else 0)
        if not self.runs:
            self.details.setPlainText("")
        self._compute_ratings()

    def _how_it_went(self, run: ModelRun) -> str:
        rating = rating_against_parent(run, self.report["models"]) if self.report is not None else None
        return " · ".join(filter(None, (run.headline, rating)))

    def _compute_ratings(self) -> None:
        """The project's report (ratings per model and per round) on a worker; the table shows it when done."""
        self.report_job = jobs.StoreJob(self.project, _report)
        self.report_job.signals.finished.connect(self._show_report)
        self.report_job.signals.failed.connect(lambda reason: self.rounds_label.setText(f"Rounds: not read ({reason})"))
        jobs.start(self.report_job)

    def _show_report(self, report: dict) -> None:
        self.report = report
        self.rounds_label.setText(
            "Rounds: each round's judgements, the annotators' agreement, and the rating of each model ranked in it"
        )
        self.rounds.show_rounds(report["rounds"])
        for row, run in enumerate(self.runs):
            self.table.setItem(row, 3, QTableWidgetItem(self._how_it_went(run)))
        self._show_run(self.table.currentRow())

    def _show_run(self, row: int) -> None:
        if 0 <= row < len(self.runs):
            run = self.runs[row]
            shown = json.dumps(run.metrics, indent=2) if run.metrics else run.headline
            rating = rating_against_parent(run, self.report["models"]) if self.report is not None else None
            self.details.setPlainText(
                f"{run.folder}\n\n" + (f"In the annotators' rankings: {rating}\n\n" if rating else "") + shown
            )

    def _choose_folder(self) -> None:
        chosen = file_dialogs.existing_directory(self, "Folder of model runs", str(self.folder.parent))
        if chosen:
            self.settings.setValue(f"models_folder/{self.project.resolve()}", chosen)
            self.refresh()


def _report(store) -> dict:
    """On the worker: the report's module (numpy, 0.1 s to import) is imported there, not at the window's start."""
    from labeler.report import project_report

    return project_report(store, bootstrap=RATING_BOOTSTRAP)
