"""The Train panel: `labeler-train` started from the window as a child process, followed, cancelled, failing.

The real runs train a tiny reward model (tests/tiny_models.py) on a project whose rankings a tiny model
learns in seconds; each starts a Python that imports the training stack, hence `slow`.
"""

import json
import re
import sys

import pytest
from PySide6.QtCore import Qt
from test_ui import settings_in
from tiny_models import build_great_project, make_reward_model, make_tokenizer

from labeler.model_runs import default_models_folder, list_runs
from labeler.store import open_read_only, open_store
from labeler.store.scores import answer_scores
from labeler.train_requests import RequestError, TrainRequest, command_arguments, next_run_folder
from labeler.ui.main_window import MainWindow
from labeler.ui.train_process import TrainProcess

CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
RUN_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("train-panel")
    texts, _ = build_great_project(root / "base-project.db", 12)
    make_reward_model(make_tokenizer(texts), root / "tiny-base")
    return root


@pytest.fixture
def window(qtbot, workspace, tmp_path):
    project = tmp_path / "demo.db"
    build_great_project(project, 12)
    shown = MainWindow(open_store(project), "alice", settings_in(tmp_path))
    qtbot.addWidget(shown)
    shown.show()
    shown.activateWindow()
    qtbot.waitExposed(shown)
    yield shown
    shown.train_panel.shut_down()


def open_reward_settings(qtbot, window, base, epochs=1):
    """Ctrl+Shift+R, then the settings typed into the panel's fields."""
    qtbot.keyClick(window, Qt.Key.Key_R, CTRL_SHIFT)
    panel = window.train_panel
    assert window.train_dock.isVisible()
    assert panel.command.currentData() == "reward"
    panel.model.setCurrentText(str(base))
    panel.tune.setCurrentIndex(panel.tune.findData("all"))
    panel.epochs.setValue(epochs)
    return panel


def start_and_wait(qtbot, window):
    panel = window.train_panel
    with qtbot.waitSignal(panel.run_ended, timeout=RUN_TIMEOUT_MS) as ended:
        qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        assert panel.is_running()
    return ended.args[0]


# --- without a child process --------------------------------------------------------------------------------------


def test_the_settings_become_a_command_line_into_a_new_run_folder(tmp_path):
    project = tmp_path / "p.db"
    project.write_text("")
    models = tmp_path / "p.models"
    (models / "reward-2").mkdir(parents=True)
    (models / "reward-x").mkdir()
    assert next_run_folder(models, "reward") == models / "reward-3"
    arguments, out = command_arguments(TrainRequest("reward", project, models, model="minilm"))
    assert (arguments, out) == (
        ["reward", str(project), "--out", str(models / "reward-3"), "--base", "minilm", "--tune", "head", "--events"],
        models / "reward-3",
    )
    rm = models / "reward-2"
    (rm / "metrics.json").write_text("{}")
    ppo = TrainRequest("ppo", project, models, steps=5, target_kl=0.1, reward_model=str(rm))
    assert command_arguments(ppo)[0][-7:] == ["--policy", "smollm2", "--steps", "5", "--target-kl", "0.1", "--events"]
    generate = TrainRequest("generate", project, models, model=str(rm.parent / "ppo-1"), k=3, prompts="judged")
    (rm.parent / "ppo-1").mkdir()
    (rm.parent / "ppo-1" / "config.json").write_text("{}")
    assert command_arguments(generate) == (
        ["generate", str(project), "--policy", str(models / "ppo-1"), "-k", "3", "--prompts", "judged", "--events"],
        None,
    )
    assert command_arguments(TrainRequest("score", project, models, reward_model=str(rm))) == (
        ["score", str(rm), str(project), "--events"],
        None,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"command": "ppo"}, "Reward model: choose a reward model trained here"),
        ({"command": "generate", "model": "minilm"}, "Model: minilm cannot be used here"),
        ({"model": "/no/such/folder"}, "Model: /no/such/folder is neither smollm2 or minilm nor a folder"),
        ({"command": "generate", "k": 12}, "K: 1 to 9 answers per prompt"),
        ({"command": "generate", "prompts": "some"}, "Prompts: unjudged or judged or all, not some"),
    ],
)
def test_bad_settings_are_refused_in_words(tmp_path, changes, message):
    project = tmp_path / "p.db"
    project.write_text("")
    with pytest.raises(RequestError, match=message):
        command_arguments(
            TrainRequest(**{"command": "reward", "project": project, "models_folder": tmp_path, **changes})
        )


def test_bad_settings_in_the_panel_start_nothing_and_say_why(qtbot, window):
    qtbot.keyClick(window, Qt.Key.Key_P, CTRL_SHIFT)
    panel = window.train_panel
    assert panel.command.currentData() == "ppo"
    assert panel.steps.isVisibleTo(panel)
    assert not panel.epochs.isVisibleTo(panel)
    panel.reward_model.setCurrentText("")
    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert not panel.is_running()
    assert panel.status.text().startswith("Reward model: choose a reward model trained here")
    assert "Traceback" not in panel.status.text()


FAKE_CHILD = r"""
import json, sys, time
print("a library's chatter on stdout")
for step in range(1, 4):
    print(json.dumps({"event": "step", "step": step, "total_steps": 3, "loss": 1 / step}), flush=True)
print(json.dumps({"event": "checkpoint", "step": 3, "path": "x"}), flush=True)
print("Traceback (most recent call last):\nMemoryError", file=sys.stderr, flush=True)
sys.exit(int(sys.argv[1]))
"""


@pytest.mark.parametrize(("exit_code", "outcome"), [(0, "failed"), (3, "failed")])
def test_a_child_that_dies_without_a_done_event_fails_with_its_last_stderr_line(qtbot, exit_code, outcome):
    run = TrainProcess()
    events = []
    run.event.connect(events.append)
    with qtbot.waitSignal(run.ended, timeout=20_000) as ended:
        run.start([sys.executable, "-c", FAKE_CHILD, str(exit_code)])
    end = ended.args[0]
    assert [event["step"] for event in events if event["event"] == "step"] == [1, 2, 3]
    assert (end.outcome, end.message, end.last_checkpoint) == (outcome, "MemoryError", 3)


def test_a_program_that_cannot_start_is_a_failed_run_not_a_crash(qtbot, tmp_path):
    run = TrainProcess()
    with qtbot.waitSignal(run.ended, timeout=10_000) as ended:
        run.start([str(tmp_path / "no-such-program")])
    assert ended.args[0].outcome == "failed"
    assert ended.args[0].message.startswith(f"could not start {tmp_path / 'no-such-program'}")


# --- real runs of labeler-train -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_reward_run_streams_progress_and_curves_then_scores_the_project_and_appears_in_models(
    qtbot, window, workspace
):
    panel = open_reward_settings(qtbot, window, workspace / "tiny-base", epochs=3)
    formats = []
    panel.progress.valueChanged.connect(lambda _: formats.append(panel.progress.format()))
    end = start_and_wait(qtbot, window)
    assert end.outcome == "done", panel.status.text()
    out = default_models_folder(window.store.path) / "reward-1"
    assert panel.curves.point_count("loss") == panel.curves.point_count("accuracy") == end.result["steps"] > 1
    assert any(re.fullmatch(r"step %v of %m · about \d+ s left", shown) for shown in formats), formats
    assert panel.status.text().startswith(f"Saved {out}: held-out accuracy")
    assert panel.status.text().endswith("Scoring the project with it…")

    # The project is scored with the new model next, automatically; the reward run's curves stay.
    with qtbot.waitSignal(panel.run_ended, timeout=RUN_TIMEOUT_MS) as scored:
        pass
    assert scored.args[0].outcome == "done", panel.status.text()
    assert panel.status.text().endswith(". 48 answers scored by reward-1")
    assert panel.progress.format() == "done"
    assert panel.curves.point_count("loss") == end.result["steps"]
    with open_read_only(window.store.path) as store:
        assert len(answer_scores(store, "reward-1")) == 48

    window.tabs.setCurrentIndex(2)
    [run] = window.models.runs
    assert (run.name, run.kind, run.finished) == ("reward-1", "reward model", True)
    assert window.models.table.item(0, 3).text().startswith("held-out accuracy")


@pytest.mark.slow
def test_a_cancelled_run_ends_its_child_and_stays_unfinished_for_resume(qtbot, window, workspace):
    panel = open_reward_settings(qtbot, window, workspace / "tiny-base", epochs=1000)
    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: panel.curves.point_count("loss") >= 2, timeout=RUN_TIMEOUT_MS)
    assert panel.progress.maximum() > 1000
    assert "left" in panel.progress.format()
    with qtbot.waitSignal(panel.run_ended, timeout=30_000) as ended:
        qtbot.keyClick(window, Qt.Key.Key_X, CTRL_SHIFT)
    end = ended.args[0]
    assert end.outcome == "cancelled"
    # The trainer finished its step and checkpointed it: --resume continues from there.
    [run] = list_runs(default_models_folder(window.store.path))
    assert not run.finished
    assert end.last_checkpoint >= 2
    progress = json.loads((run.folder / "checkpoints" / f"step-{end.last_checkpoint}" / "progress.json").read_text())
    assert progress["step"] == end.last_checkpoint
    assert panel.status.text() == (
        f"Cancelled: {run.folder} is kept unfinished; labeler-train … --resume continues it from step "
        f"{end.last_checkpoint}."
    )
    assert panel.start_button.isEnabled()
    assert window.isVisible()


@pytest.mark.slow
def test_a_failing_run_shows_its_error_line(qtbot, window, tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "no-such-architecture"}')
    open_reward_settings(qtbot, window, broken)
    end = start_and_wait(qtbot, window)
    panel = window.train_panel
    assert end.outcome == "failed"
    assert panel.status.text().startswith("labeler-train reward failed: ")
    assert "Traceback" not in panel.status.text()
    assert panel.progress.format() == "failed"
    assert window.isVisible()
