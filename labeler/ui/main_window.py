"""The main window: wiring only. A "Label" tab (the labelling view) and a "Browse" tab (a project's
prompts on the left, the chosen prompt and its answers on the right), counts in the status bar.
It gets its store and annotator in the constructor: no globals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QEvent, QItemSelection, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QGroupBox,
    QLabel,
    QListView,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from labeler import __version__
from labeler.formats.export import ExportFormat, export_project
from labeler.formats.importer import ImportRejected, import_files
from labeler.store import Prompt, Store, StoreError, open_store
from labeler.store.queue import judged_since
from labeler.store.snapshots import snapshot
from labeler.ui import jobs
from labeler.ui.markdown_view import MarkdownView
from labeler.ui.prompt_list import PromptListModel
from labeler.ui.task_view import TaskView, chat_as_text


class MainWindow(QMainWindow):
    def __init__(self, store: Store, annotator: str):
        super().__init__()
        self.store = store
        self.annotator = annotator
        self.resize(1200, 800)

        self.prompt_list = QListView()
        self.prompt_list.setUniformItemSizes(True)
        self.prompt_list.setAlternatingRowColors(True)
        self.prompt_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.prompt_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.prompt_heading = QLabel()
        self.prompt_heading.setTextFormat(Qt.TextFormat.PlainText)
        self.prompt_view = QPlainTextEdit()
        self.prompt_view.setReadOnly(True)
        self.answers_box = QWidget()
        self.answers_layout = QVBoxLayout(self.answers_box)
        answers_scroll = QScrollArea()
        answers_scroll.setWidgetResizable(True)
        answers_scroll.setWidget(self.answers_box)

        detail = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.prompt_heading)
        top_layout.addWidget(self.prompt_view)
        detail.addWidget(top)
        detail.addWidget(answers_scroll)
        detail.setSizes([250, 550])

        browser = QSplitter()
        browser.addWidget(self.prompt_list)
        browser.addWidget(detail)
        browser.setSizes([360, 840])

        self.task_view = TaskView(store, annotator)
        self.task_view.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.task_view.progressed.connect(self._show_progress)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.task_view, "&Label")
        self.tabs.addTab(browser, "&Browse")
        self.setCentralWidget(self.tabs)
        self.progress_bar = QProgressBar()
        self.progress_bar.setFormat("%v of %m done")
        self.statusBar().addPermanentWidget(QLabel(f"Annotator: {annotator}"))
        self.today_label = QLabel()
        self.statusBar().addPermanentWidget(self.today_label)
        self.statusBar().addPermanentWidget(self.progress_bar)

        self._build_guidelines()
        self._build_menus()
        self._show_project()

    def _build_guidelines(self) -> None:
        """The project's guidelines beside the task, toggled with G; their version is stamped on
        every judgement saved."""
        self.guidelines_dock = QDockWidget("Guidelines", self)
        self.guidelines_dock.setObjectName("guidelines")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.guidelines_dock)
        self.guidelines_action = self.guidelines_dock.toggleViewAction()
        self.guidelines_action.setShortcut(QKeySequence("G"))
        self.guidelines_action.setStatusTip("Show or hide the labelling guidelines")
        self.addAction(self.guidelines_action)
        self.guidelines_dock.hide()

    def _show_guidelines(self) -> None:
        found = self.store.guidelines()
        version, text = found if found else (None, "This project has no guidelines.")
        self.guidelines_dock.setWindowTitle(f"Guidelines (version {version})" if version else "Guidelines")
        self.guidelines_dock.setWidget(MarkdownView(text))

    def _build_menus(self) -> None:
        self.open_action = QAction("&Open project…", self)
        self.open_action.setShortcut(QKeySequence("Ctrl+O"))
        self.open_action.setStatusTip("Open another project file")
        self.open_action.triggered.connect(self._choose_project)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setStatusTip("Close the app")
        self.quit_action.triggered.connect(self.close)
        self.import_action = QAction("&Import…", self)
        self.import_action.setStatusTip(
            "Add prompts, answers, rankings or pairs from jsonl, json, csv or parquet files"
        )
        self.import_action.triggered.connect(self._choose_import)
        self.export_action = QAction("&Export…", self)
        self.export_action.setStatusTip("Write the judgements as a preference dataset (TRL conversational, or csv)")
        self.export_action.triggered.connect(self._choose_export)
        self.snapshot_action = QAction("&Snapshot…", self)
        self.snapshot_action.setStatusTip("A consistent copy of the project, for another machine or for training")
        self.snapshot_action.triggered.connect(self._choose_snapshot)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addSeparator()
        file_menu.addActions([self.import_action, self.export_action, self.snapshot_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self.about_action = QAction("&About labeler", self)
        self.about_action.triggered.connect(lambda: QMessageBox.about(self, "About labeler", f"labeler {__version__}"))
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.guidelines_action)
        self.menuBar().addMenu("&Help").addAction(self.about_action)

    def _show_project(self) -> None:
        self.setWindowTitle(f"{self.store.path.name} — labeler")
        self._show_guidelines()
        self.tabs.setCurrentIndex(0)
        self.task_view.set_store(self.store)
        self.prompt_model = PromptListModel(self.store, self)
        self.prompt_list.setModel(self.prompt_model)
        self.prompt_list.selectionModel().selectionChanged.connect(self._on_selection)
        stats = self.store.stats()
        self.statusBar().showMessage(
            f"{stats.prompts:,} prompts · {stats.answers:,} answers · {stats.judgements:,} judgements · "
            f"{stats.pairs:,} pairs · {stats.annotators:,} annotators"
        )
        if self.prompt_model.rowCount():
            self.prompt_list.setCurrentIndex(self.prompt_model.index(0))

    def _show_progress(self, done: int, total: int) -> None:
        self.progress_bar.setMaximum(max(total, 1))
        self.progress_bar.setValue(done)
        midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        today, first = judged_since(self.store, self.annotator, midnight)
        pace = ""
        if first is not None and today > 1:
            hours = (datetime.now(UTC) - datetime.fromisoformat(first.replace("Z", "+00:00"))).total_seconds() / 3600
            pace = f" · {today / max(hours, 1 / 60):.0f}/h"
        self.today_label.setText(f"Today: {today}{pace}")

    def changeEvent(self, event) -> None:
        # Time spent on a task counts only while this window is the active one.
        if event.type() == QEvent.Type.ActivationChange:
            if self.isActiveWindow():
                self.task_view.resume()
            else:
                self.task_view.pause()
        super().changeEvent(event)

    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        if selected.indexes():
            self.show_prompt(self.store.prompt(self.prompt_model.prompt_id(selected.indexes()[0].row())))

    def show_prompt(self, prompt: Prompt) -> None:
        category = prompt.metadata.get("category")
        self.prompt_heading.setText(
            f"Prompt {prompt.external_id or prompt.id}" + (f" · {category}" if category else "")
        )
        self.prompt_view.setPlainText(prompt.content if prompt.kind == "text" else chat_as_text(prompt.content))
        while self.answers_layout.count():
            self.answers_layout.takeAt(0).widget().deleteLater()
        for number, answer in enumerate(prompt.answers, start=1):
            card = QGroupBox(f"Answer {number}" + (f" · {answer.model}" if answer.model else ""))
            card_layout = QVBoxLayout(card)
            card_layout.addWidget(MarkdownView(answer.text))
            card.setMinimumHeight(160)
            self.answers_layout.addWidget(card)

    # -- import, export, snapshot: run as jobs, off the GUI thread ------------------------------------

    def _run_job(self, work, done) -> None:
        self.statusBar().showMessage("Working…")
        self.job = jobs.StoreJob(self.store.path, work)
        self.job.signals.finished.connect(done)
        self.job.signals.failed.connect(lambda reason: QMessageBox.warning(self, "Not done", reason))
        jobs.start(self.job)

    def _choose_import(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Import", "", "Data files (*.jsonl *.json *.csv *.parquet);;All files (*)"
        )
        if files:
            self._run_job(lambda store: _import_summary(store, [Path(f) for f in files]), self._after_import)

    def _after_import(self, summary: str) -> None:
        self.statusBar().showMessage(summary, 10000)
        self.prompt_model = PromptListModel(self.store, self)
        self.prompt_list.setModel(self.prompt_model)
        self.prompt_list.selectionModel().selectionChanged.connect(self._on_selection)
        if self.task_view.prompt is None:
            self.task_view.show_next()

    def _choose_export(self) -> None:
        out, _ = QFileDialog.getSaveFileName(
            self, "Export", "", "JSON lines (*.jsonl);;Parquet (*.parquet);;CSV for spreadsheets (*.csv)"
        )
        if out:
            self._run_job(lambda store: _export_summary(store, Path(out)), self._show_done)

    def _choose_snapshot(self) -> None:
        out, _ = QFileDialog.getSaveFileName(self, "Snapshot", "", "Projects (*.db)")
        if out:
            self._run_job(lambda store: f"Wrote {snapshot(store, Path(out))}", self._show_done)

    def _show_done(self, summary: str) -> None:
        self.statusBar().showMessage(summary, 10000)

    def _choose_project(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Open project", "", "Projects (*.db);;All files (*)")
        if chosen:
            self.open_project(Path(chosen))

    def open_project(self, path: Path) -> None:
        try:
            store = open_store(path, busy_timeout_s=self.store.busy_timeout_s)
        except StoreError as error:
            QMessageBox.warning(self, "Cannot open the project", str(error))
            return
        self.store.close()
        self.store = store
        self._show_project()

    def closeEvent(self, event) -> None:
        self.store.close()
        super().closeEvent(event)


def _import_summary(store: Store, files: list[Path]) -> str:
    try:
        report = import_files(store, files)
    except ImportRejected as rejected:
        shown = "\n".join(f"{bad.file}:{bad.line}: {bad.reason}" for bad in rejected.bad[:20])
        more = f"\n… and {len(rejected.bad) - 20:,} more" if len(rejected.bad) > 20 else ""
        raise StoreError(f"Nothing was imported: {len(rejected.bad):,} bad rows.\n{shown}{more}") from None
    return (
        f"Imported {report.rows:,} rows: {report.prompts_added:,} prompts, {report.answers_added:,} answers, "
        f"{report.judgements_added:,} judgements"
    )


def _export_summary(store: Store, out: Path) -> str:
    fmt = ExportFormat.CSV if out.suffix == ".csv" else ExportFormat.TRL_CONVERSATIONAL
    report = export_project(store, out, fmt=fmt)
    return f"Wrote {report.rows['train']:,} pairs to {out}"
