"""The main window: wiring only. A "Label" tab (the labelling view, task_view.py), a "Browse" tab
(browse_tab.py) and a "Models" tab (models_view.py), the Train panel docked beside them (train_panel.py,
so labelling goes on while a run trains), the menus, counts in the status bar. Opening and
creating project files is in project_files.py; what Import, Export and Snapshot do, in data_jobs.py.
It gets its store, annotator and settings in the constructor: no globals.

QSettings holds the window's geometry, the text size (Ctrl++ / Ctrl+-), the prompt's share of the
height (its border dragged) and the recent projects, never labels."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QTabWidget,
)

from labeler import __version__
from labeler.store import Store, StoreError, open_store
from labeler.train_requests import COMMANDS as TRAIN_RUNS
from labeler.ui import data_jobs, file_dialogs, jobs, project_files
from labeler.ui.actions import LABELLING_COMMANDS, TRAIN_COMMANDS, WINDOW_COMMANDS, add_to_menu, make_actions
from labeler.ui.browse_tab import BrowseTab
from labeler.ui.markdown_view import MarkdownView, warm_up
from labeler.ui.models_view import ModelsView
from labeler.ui.progress import Progress
from labeler.ui.prompt_splitter import DEFAULT_PROMPT_SHARE
from labeler.ui.style import MAX_POINTS, MIN_POINTS, is_dark, stylesheet
from labeler.ui.task_view import TaskView
from labeler.ui.train_panel import OPENING_WIDTH, TrainPanel

WARM_UP_AFTER_MS = 1500


class MainWindow(QMainWindow):
    def __init__(self, store: Store, annotator: str, settings: QSettings | None = None):
        super().__init__()
        self.store = store
        self.annotator = annotator
        self.settings = settings if settings is not None else QSettings()
        self.resize(1200, 800)

        self.browse = BrowseTab(store)
        self.browse.open_requested.connect(self._open_in_label_tab)
        self.task_view = TaskView(store, annotator)
        self.task_view.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.task_view.progressed.connect(self.show_progress)
        splitter = self.task_view.splitter
        splitter.set_share(float(self.settings.value("prompt_share", DEFAULT_PROMPT_SHARE)))
        splitter.share_changed.connect(lambda share: self.settings.setValue("prompt_share", share))
        self.tabs = QTabWidget()
        self.tabs.addTab(self.task_view, "&Label")
        self.tabs.addTab(self.browse, "&Browse")
        self.models = ModelsView(store.path, self.settings)
        self.tabs.addTab(self.models, "&Models")
        self.tabs.currentChanged.connect(self._on_tab)
        self.setCentralWidget(self.tabs)
        self.progress_bar = QProgressBar()
        self.progress_bar.setFormat("%v of %m done")
        self.statusBar().addPermanentWidget(QLabel(f"Annotator: {annotator}"))
        self.today_label = QLabel()
        self.statusBar().addPermanentWidget(self.today_label)
        self.statusBar().addPermanentWidget(self.progress_bar)

        self._build_guidelines()
        self._build_train_panel()
        self.window_actions = make_actions(self, WINDOW_COMMANDS, self._handlers())
        self.train_actions = make_actions(self, TRAIN_COMMANDS, self._train_handlers())
        self._build_menus()
        # Text starts at the desktop's size; Ctrl++ / Ctrl+- steps are remembered, not a size, so a
        # change of the desktop's size (or another screen) is still followed.
        self.system_points = QApplication.font().pointSizeF()
        self.text_steps = 0
        self.set_text_steps(int(self.settings.value("text_steps", 0)))
        self._restore_geometry()
        self._show_project()
        # Pygments imports a lexer's module the first time its language is seen (up to 0.3 s):
        # load the common ones on a worker thread soon, not when an annotator meets a code block
        # (not at once: it would hold the interpreter while the first task is being shown).
        QTimer.singleShot(WARM_UP_AFTER_MS, lambda: jobs.start_function(warm_up))

    def _build_guidelines(self) -> None:
        """The project's guidelines beside the task, toggled with G; their version is stamped on
        every judgement saved."""
        self.guidelines_dock = QDockWidget("Guidelines", self)
        self.guidelines_dock.setObjectName("guidelines")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.guidelines_dock)
        self.guidelines_dock.hide()

    def _build_train_panel(self) -> None:
        """The Train panel in a dock (hidden until asked for), so the task stays in view during a run."""
        self.train_panel = TrainPanel(self.store.path, lambda: self.models.folder)
        self.train_panel.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.train_panel.run_ended.connect(lambda _end: self.models.refresh())
        self.train_dock = QDockWidget("Train", self)
        self.train_dock.setObjectName("train")
        self.train_dock.setWidget(self.train_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.train_dock)
        self.train_dock.hide()

    def _train_handlers(self) -> dict[str, Callable[[], object]]:
        """What each command of the Train menu (actions.TRAIN_COMMANDS) does."""
        return {
            "train_panel": lambda: self.train_dock.setVisible(self.train_panel_action.isChecked()),
            **{f"train_{name}": lambda name=name: self.show_train(name) for name in TRAIN_RUNS},
            "train_start": self._start_training,
            "train_cancel": self.train_panel.cancel,
        }

    def show_train(self, command: str) -> None:
        """The Train panel shown on `command`'s settings; Start (Ctrl+Return) runs it."""
        if not self.train_panel.is_running():
            self.train_panel.choose_command(command)
        if self.train_dock.isHidden():
            self.train_dock.show()
            self.resizeDocks([self.train_dock], [OPENING_WIDTH], Qt.Orientation.Horizontal)
        self.train_panel.command.setFocus()

    def _start_training(self) -> None:
        # Ctrl+Return with the panel hidden shows it: a run is never started on settings nobody saw.
        if self.train_dock.isHidden():
            self.train_dock.show()
            return
        self.train_panel.start()

    # -- text size and geometry, remembered in QSettings ----------------------------------------------

    def set_text_steps(self, steps: int) -> None:
        """The whole window's text size, `steps` points from the desktop's (Ctrl++ / Ctrl+- / Ctrl+0),
        kept for the next start."""
        points = min(max(self.system_points + steps, MIN_POINTS), MAX_POINTS)
        self.text_steps = round(points - self.system_points)
        self.text_points = points
        font = self.font()
        font.setPointSizeF(points)
        self.setFont(font)
        self.styled_dark = is_dark(QApplication.palette())
        self.setStyleSheet(stylesheet(points))
        self.settings.setValue("text_steps", self.text_steps)

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("window_state")
        if state is not None:
            self.restoreState(state)
        self.guidelines_action.setChecked(not self.guidelines_dock.isHidden())
        self.train_panel_action.setChecked(not self.train_dock.isHidden())

    def _show_guidelines(self) -> None:
        found = self.store.guidelines()
        version, text = found if found else (None, "This project has no guidelines.")
        self.guidelines_dock.setWindowTitle(f"Guidelines (version {version})" if version else "Guidelines")
        self.guidelines_dock.setWidget(MarkdownView(text))

    def _handlers(self) -> dict[str, Callable[[], object]]:
        """What each of the window's commands (actions.WINDOW_COMMANDS) does."""
        return {
            "guidelines": lambda: self.guidelines_dock.setVisible(self.guidelines_action.isChecked()),
            "zoom_in": lambda: self.set_text_steps(self.text_steps + 1),
            "zoom_out": lambda: self.set_text_steps(self.text_steps - 1),
            "zoom_reset": lambda: self.set_text_steps(0),
            "new": self._choose_new_project,
            "open": self._choose_project,
            "import": self._choose_import,
            "export": self._choose_export,
            "snapshot": self._choose_snapshot,
            "quit": self.close,
            "about": lambda: QMessageBox.about(self, "About labeler", f"labeler {__version__}"),
        }

    def _build_menus(self) -> None:
        """Every command is in a menu too, so a mouse user can do everything."""
        actions = self.window_actions
        # The guidelines command is the dock's toggle: checked while the dock shows, however it was shown.
        self.guidelines_action = actions["guidelines"]
        self.guidelines_action.setCheckable(True)
        self.guidelines_dock.visibilityChanged.connect(
            lambda shown: self.guidelines_action.setChecked(shown) if not self.isMinimized() else None
        )
        self.new_action, self.open_action, self.quit_action = actions["new"], actions["open"], actions["quit"]
        self.import_action, self.export_action = actions["import"], actions["export"]
        self.snapshot_action, self.about_action = actions["snapshot"], actions["about"]

        def window_commands(*names: str) -> tuple:
            return tuple(command for command in WINDOW_COMMANDS if command.name in names)

        file_menu = self.menuBar().addMenu("&File")
        add_to_menu(file_menu, window_commands("new", "open"), actions)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        add_to_menu(file_menu, window_commands("import", "export", "snapshot", "quit"), actions)

        label = self.task_view.actions_by_name
        label_menu = self.menuBar().addMenu("&Label")
        place_menu = label_menu.addMenu("&Place answer")
        place_menu.addActions([label[f"place_{n}"] for n in range(1, 10)])
        add_to_menu(label_menu, tuple(c for c in LABELLING_COMMANDS if not c.name.startswith("place_")), label)

        view_menu = self.menuBar().addMenu("&View")
        add_to_menu(view_menu, window_commands("guidelines", "zoom_in", "zoom_out", "zoom_reset"), actions)
        self.train_panel_action = self.train_actions["train_panel"]
        self.train_panel_action.setCheckable(True)
        self.train_dock.visibilityChanged.connect(
            lambda shown: self.train_panel_action.setChecked(shown) if not self.isMinimized() else None
        )
        add_to_menu(self.menuBar().addMenu("&Train"), TRAIN_COMMANDS, self.train_actions)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(label["help"])
        help_menu.addAction(self.about_action)

    def _fill_recent_menu(self) -> None:
        project_files.fill_recent_menu(self.recent_menu, self.settings, self.store.path, self.open_project)

    def _show_project(self) -> None:
        project_files.remember_project(self.settings, self.store.path)
        self.setWindowTitle(f"{self.store.path.name} — labeler")
        self._show_guidelines()
        self.tabs.setCurrentIndex(0)
        self.task_view.set_store(self.store)
        # The Browse tab is filled when first shown, and the project's counts come from a worker:
        # on a 100,000-prompt project they cost 0.2 s and 0.6 s, before the first task otherwise.
        self.browse.set_store(self.store)
        self.models.set_project(self.store.path)
        self.train_panel.set_project(self.store.path)
        if self.tabs.currentIndex() == 1:
            self.browse.fill()
        self.stats_job = jobs.StoreJob(self.store.path, data_jobs.stats_line)
        self.stats_job.signals.finished.connect(self._show_stats)
        jobs.start(self.stats_job)

    def _show_stats(self, line: str) -> None:
        if not self.statusBar().currentMessage():  # never over a message the annotator needs
            self.statusBar().showMessage(line)

    def _open_in_label_tab(self, prompt_id: int) -> None:
        self.tabs.setCurrentIndex(0)
        self.task_view.open_prompt(prompt_id)

    def _on_tab(self, index: int) -> None:
        self.task_view.set_keys_enabled(index == 0)
        if index == 1:
            self.browse.fill()
        elif index == 2:
            self.models.refresh()

    def show_progress(self, progress: Progress) -> None:
        """Done of total, today's count and pace: from counts the labelling view keeps, no query."""
        self.progress_bar.setMaximum(max(progress.total, 1))
        self.progress_bar.setValue(progress.done)
        pace = progress.pace()
        self.today_label.setText(f"Today: {progress.today}" + (f" · {pace:.0f}/h" if pace is not None else ""))

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange and is_dark(QApplication.palette()) != self.styled_dark:
            # The desktop switched between light and dark: a style sheet resolves palette colours
            # when it is applied, so apply ours again (the answers then re-colour their code).
            self.set_text_steps(self.text_steps)
        # Time spent on a task counts only while this window is the active one.
        if event.type() == QEvent.Type.ActivationChange:
            if self.isActiveWindow():
                self.task_view.resume()
            else:
                self.task_view.pause()
        super().changeEvent(event)

    # -- import, export, snapshot: run as jobs, off the GUI thread ------------------------------------

    def _run_job(self, work, done) -> None:
        self.statusBar().showMessage("Working…")
        self.job = jobs.StoreJob(self.store.path, work)
        self.job.signals.finished.connect(done)
        self.job.signals.failed.connect(lambda reason: QMessageBox.warning(self, "Not done", reason))
        jobs.start(self.job)

    def _choose_import(self) -> None:
        files = file_dialogs.open_file_names(
            self, "Import", "Data files (*.jsonl *.json *.csv *.parquet);;All files (*)"
        )
        if files:
            self._run_job(lambda store: data_jobs.import_files(store, [Path(f) for f in files]), self._after_import)

    def _after_import(self, summary: str) -> None:
        self.statusBar().showMessage(summary, 10000)
        self.browse.set_store(self.store)
        if self.tabs.currentIndex() == 1:
            self.browse.fill()
        self.task_view.recount()
        if self.task_view.prompt is None:
            self.task_view.show_next()

    def _choose_export(self) -> None:
        out = file_dialogs.save_file_name(
            self, "Export", "JSON lines (*.jsonl);;Parquet (*.parquet);;CSV for spreadsheets (*.csv)"
        )
        if out:
            self._run_job(lambda store: data_jobs.export_project(store, Path(out)), self._show_done)

    def _choose_snapshot(self) -> None:
        out = file_dialogs.save_file_name(self, "Snapshot", "Projects (*.db)")
        if out:
            self._run_job(lambda store: data_jobs.snapshot_project(store, Path(out)), self._show_done)

    def _show_done(self, summary: str) -> None:
        self.statusBar().showMessage(summary, 10000)

    def _choose_project(self) -> None:
        chosen = project_files.choose_project_to_open(self)
        if chosen:
            self.open_project(chosen)

    def _choose_new_project(self) -> None:
        chosen = project_files.choose_new_project(self)
        if chosen:
            self.new_project(chosen)

    def new_project(self, path: Path) -> None:
        """Create an empty project with the bundled guidelines (as `labeler init` does), then open it."""
        try:
            project_files.create_empty_project(path)
        except (StoreError, OSError) as error:
            QMessageBox.warning(self, "Not created", str(error))
            return
        self.open_project(path)
        self.statusBar().showMessage(f"Created {path.name}: File ▸ Import… adds prompts and answers.", 10000)

    def open_project(self, path: Path) -> None:
        if self.task_view.pending_save is not None:
            QMessageBox.warning(
                self, "Not yet", "Your last judgement is waiting to be saved in this project; try again once it is."
            )
            return
        try:
            store = open_store(path, busy_timeout_s=self.store.busy_timeout_s)
        except StoreError as error:
            QMessageBox.warning(self, "Cannot open the project", str(error))
            return
        self.store.close()
        self.store = store
        self._show_project()

    def closeEvent(self, event) -> None:
        self.train_panel.shut_down()
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.sync()
        self.store.close()
        super().closeEvent(event)
