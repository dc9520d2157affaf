"""The Train panel: run `labeler-train` on the open project from the window, and watch it go.

A command (reward model, SFT, PPO, generate answers, score the project) with the settings a user needs,
Start and Cancel, a progress bar with the time left, the error line of a run that failed, and live curves
of its step events. The run is a child process (train_process.py): the annotator keeps labelling meanwhile.
Run folders go into the folder the Models tab lists; after a reward model is trained here, the project is
scored with it, so the Browse tab can show where it and the annotators disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from labeler.model_runs import list_runs
from labeler.train_requests import (
    EMBEDDED_MODELS,
    POLICY_MODELS,
    RequestError,
    TrainRequest,
    command_arguments,
    trainer_program,
)
from labeler.ui import file_dialogs
from labeler.ui.train_process import RunEnd, TrainProcess

if TYPE_CHECKING:
    from labeler.ui.train_curves import TrainCurves

COMMAND_TITLES = {
    "reward": "Reward model",
    "sft": "SFT on written answers",
    "ppo": "PPO against a reward model",
    "generate": "Generate answers",
    "score": "Score the project",
}
TUNINGS = {"head": "a linear head on a frozen model (fast)", "all": "fine-tune the whole model"}
GENERATE_PROMPTS = {
    "unjudged": "those nobody has judged",
    "judged": "the judged ones: their next round",
    "all": "every prompt",
}
POLICY_KINDS = ("SFT policy", "PPO policy", "RLOO policy")
MINIMUM_WIDTH = 380  # room for a model folder's path in the form
OPENING_WIDTH = 440  # the dock's width when first shown: the task keeps most of the window


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds // 60 % 60:02d} min"
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class TrainPanel(QWidget):
    message = Signal(str)  # a line for the status bar
    run_ended = Signal(object)  # a RunEnd: the Models tab lists runs again

    def __init__(self, project: Path, models_folder: Callable[[], Path], parent: QWidget | None = None):
        super().__init__(parent)
        self.project = project
        self.models_folder = models_folder
        self.run: TrainProcess | None = None
        self.request: TrainRequest | None = None
        self.out: Path | None = None
        self.follows = ""  # what the run before said, when this one follows it (scoring after a reward model)
        self._build_form()
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setFormat("not started")
        self.progress.setValue(0)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # error lines and paths are text, never markup
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.curves: TrainCurves | None = None  # made when first needed: see _curves
        self.setMinimumWidth(MINIMUM_WIDTH)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.choose_command("reward")

    def _build_form(self) -> None:
        self.command = QComboBox()
        for name, title in COMMAND_TITLES.items():
            self.command.addItem(title, name)
        self.command.currentIndexChanged.connect(lambda _: self._show_fields())
        self.model = QComboBox()
        self.model.setEditable(True)  # a name, or a model folder's path typed or pasted
        choose_model = QPushButton("Folder…")
        choose_model.clicked.connect(self._choose_model_folder)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, stretch=1)
        model_row.addWidget(choose_model)
        self.tune = QComboBox()
        for name, title in TUNINGS.items():
            self.tune.addItem(title, name)
        self.tune.currentIndexChanged.connect(lambda _: self._show_fields())
        self.epochs = QSpinBox(minimum=1, maximum=1000, value=1)
        self.steps = QSpinBox(minimum=1, maximum=100_000, value=20)
        self.target_kl = QDoubleSpinBox(minimum=0.0, maximum=100.0, value=0.0, singleStep=0.01, decimals=3)
        self.target_kl.setSpecialValueText("off (a fixed KL coefficient)")
        self.k = QSpinBox(minimum=1, maximum=9, value=4)
        self.prompts = QComboBox()
        for name, title in GENERATE_PROMPTS.items():
            self.prompts.addItem(title, name)
        self.reward_model = QComboBox()
        self.reward_model.setEditable(True)
        self.form = QFormLayout()
        self.form.addRow("&Command:", self.command)
        # A label of its own: the form gives a buddy (the Alt+letter's target) only to a widget, not a row.
        self.model_label = QLabel()
        self.model_label.setBuddy(self.model)
        self.form.addRow(self.model_label, model_row)
        self.model_row = model_row
        self.form.addRow("T&uning:", self.tune)
        self.form.addRow("&Epochs:", self.epochs)
        self.form.addRow("&Steps:", self.steps)
        self.form.addRow("Tar&get KL:", self.target_kl)
        self.form.addRow("&K answers per prompt:", self.k)
        self.form.addRow("Pr&ompts:", self.prompts)
        self.form.addRow("&Reward model:", self.reward_model)

    # -- the settings ------------------------------------------------------------------------------------------

    def set_project(self, project: Path) -> None:
        self.project = project
        self._fill_model_choices()

    def choose_command(self, command: str) -> None:
        self.command.setCurrentIndex(self.command.findData(command))
        self._show_fields()

    def _show_fields(self) -> None:
        command = self.command.currentData()
        tune_all = self.tune.currentData() == "all"
        shown = {
            self.model_row: command != "score",
            self.tune: command == "reward",
            self.epochs: command == "sft" or (command == "reward" and tune_all),
            self.steps: command == "ppo",
            self.target_kl: command == "ppo",
            self.k: command == "generate",
            self.prompts: command == "generate",
            self.reward_model: command in ("ppo", "score"),
        }
        for field, visible in shown.items():
            self.form.setRowVisible(field, visible)
        # Alt+letters the window does not use already (Alt+B and Alt+M are the Browse and Models tabs).
        self.model_label.setText("Base mo&del:" if command in ("reward", "sft") else "&Policy:")
        self._fill_model_choices()
        if self.curves is not None and (self.run is None or not self.run.is_running()):
            self.curves.show_figures(command)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._curves()

    def _curves(self) -> TrainCurves:
        """The curves, made the first time the panel is shown or a run reports: pyqtgraph takes 0.44 s to
        import, which every start of the window would otherwise pay for a panel most sessions never open."""
        if self.curves is None:
            from labeler.ui.train_curves import TrainCurves

            self.curves = TrainCurves()
            self.layout().addWidget(self.curves, stretch=1)
            self.curves.show_figures(self.command.currentData())
        return self.curves

    def _fill_model_choices(self) -> None:
        """The embedded models and the finished runs that fit, newest first; what was typed stays."""
        command = self.command.currentData()
        runs = [run for run in list_runs(self.models_folder()) if run.finished]
        policies = [str(run.folder) for run in runs if run.kind in POLICY_KINDS]
        models = list(EMBEDDED_MODELS) if command == "reward" else [*POLICY_MODELS, *policies]
        _refill(self.model, models)
        _refill(self.reward_model, [str(run.folder) for run in runs if run.kind == "reward model"])

    def _choose_model_folder(self) -> None:
        chosen = file_dialogs.existing_directory(self, "Hugging Face model folder", str(self.models_folder()))
        if chosen:
            self.model.setCurrentText(chosen)

    def current_request(self) -> TrainRequest:
        return TrainRequest(
            command=self.command.currentData(),
            project=self.project,
            models_folder=self.models_folder(),
            model=self.model.currentText(),
            tune=self.tune.currentData(),
            epochs=self.epochs.value(),
            steps=self.steps.value(),
            target_kl=self.target_kl.value(),
            k=self.k.value(),
            prompts=self.prompts.currentData(),
            reward_model=self.reward_model.currentText(),
        )

    # -- a run -------------------------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.run is not None and self.run.is_running()

    def start(self) -> None:
        """Start the command with the settings shown; a bad setting is said in the panel, nothing starts."""
        if self.is_running():
            self._say("A run is going: cancel it first, or wait for it to end.", error=True)
            return
        self._start(self.current_request())

    def _start(self, request: TrainRequest, follows: str = "") -> None:
        try:
            arguments, out = command_arguments(request)
        except RequestError as error:
            self._say(str(error), error=True)
            return
        self.request, self.out, self.follows = request, out, follows
        self.run = TrainProcess(self)
        self.run.event.connect(self._on_event)
        self.run.ended.connect(self._on_end)
        if not follows:  # the curves of the run this one follows stay in view
            self._curves().show_figures(request.command)
        self.progress.setRange(0, 0)  # busy until the "start" event says how many steps
        self.progress.setFormat("working…")
        where = f" → {out}" if out else ""
        self._say(
            f"{follows} Scoring the project with it…" if follows else f"Running labeler-train {request.command}{where}"
        )
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.run.start([*trainer_program(), *arguments])

    def cancel(self) -> None:
        if self.is_running():
            stopping = self.run.is_cancelled()
            self.run.cancel()
            self._say("Stopping now…" if stopping else "Stopping at the end of this step (Cancel again: at once)…")

    def shut_down(self) -> None:
        """The window is closing: the child goes with it."""
        if self.run is not None:
            self.run.kill_and_wait()

    def _on_event(self, event: dict) -> None:
        kind = event.get("event")
        total = event.get("total_steps")
        if kind == "start" and isinstance(total, int) and total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(int(event.get("resumed_at") or 0), total))
            self.progress.setFormat("step %v of %m")
        elif kind == "step" and isinstance(event.get("step"), int):
            if isinstance(total, int) and total > 0 and self.progress.maximum() != total:
                self.progress.setRange(0, total)
            self.progress.setValue(min(event["step"], self.progress.maximum()))
            eta = event.get("eta_seconds")
            left = f" · about {duration(eta)} left" if isinstance(eta, int | float) else ""
            self.progress.setFormat(f"step %v of %m{left}")
            self._curves().add_step(event)

    def _on_end(self, end: RunEnd) -> None:
        request, out = self.request, self.out
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self._curves().redraw()
        if end.outcome == "done":
            self.progress.setValue(1)
            self.progress.setFormat("done")
            self._say(" ".join(filter(None, (self.follows, _done_line(request.command, end.result, out)))))
        elif end.outcome == "cancelled":
            self.progress.setValue(0)
            self.progress.setFormat("cancelled")
            self._say(_cancelled_line(out, end.last_checkpoint))
        else:
            self.progress.setValue(0)
            self.progress.setFormat("failed")
            failed = f"labeler-train {request.command} failed: {end.message}"
            self._say(" ".join(filter(None, (self.follows, failed))), error=True)
        self.run_ended.emit(end)
        self._fill_model_choices()
        if end.outcome == "done" and request.command == "reward" and out is not None:
            # A reward model is most use once it has scored the answers: Browse shows where it disagrees.
            self._start(replace(request, command="score", reward_model=str(out)), follows=self.status.text())

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c0392b;" if error else "")
        self.message.emit(text)


def _done_line(command: str, result: dict, out: Path | None) -> str:
    if command == "generate":
        return f"{result.get('answers_added', 0):,} answers added to {result.get('prompts', 0):,} prompts"
    if command == "score":
        return f"{result.get('answers', 0):,} answers scored by {result.get('name', '')}"
    if command == "reward" and result.get("eval_accuracy") is not None:
        return f"Saved {out}: held-out accuracy {result['eval_accuracy']:.1%}."
    return f"Saved {out} (see the Models tab)"


def _cancelled_line(out: Path | None, checkpoint: int | None) -> str:
    if out is None:
        return "Cancelled: what was written before stays in the project."
    if checkpoint is None:
        return f"Cancelled before its first checkpoint: {out} holds no state to resume from."
    return f"Cancelled: {out} is kept unfinished; labeler-train … --resume continues it from step {checkpoint}."


def _refill(combo: QComboBox, choices: list[str]) -> None:
    typed = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(choices)
    combo.setCurrentText(typed if typed else (choices[0] if choices else ""))
    combo.blockSignals(False)
