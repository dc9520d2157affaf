"""The Models tab: the project's training runs and what each learned, read from their folders."""

import json
import os
import time

import pytest
from helpers.projects import make_project
from PySide6.QtWidgets import QPushButton
from test_ui import settings_in

from labeler.domain import Judgement, Ranking
from labeler.model_runs import default_models_folder, list_runs, run_kind
from labeler.policy_ratings import parent_model_name, rating_against_parent
from labeler.store import NewAnswer, open_store
from labeler.ui.main_window import MainWindow

REWARD = {
    "eval_accuracy": 0.657,
    "eval_pairs": 360,
    "eval_longer_wins": 0.555,
    "eval_annotator_agreement": 0.72,
    "eval_agreement_comparisons": 50,
    "base": "smollm2",
}
SFT = {"train_loss_before": 2.5, "train_loss_after": 1.25, "steps": 10}
PPO = {"algo": "ppo", "first_score": -0.5, "last_score": 0.75, "last_kl": 0.125, "steps": 100}


def write_run(folder, name, metrics=None, started_with="snapshot.db", at=None):
    run = folder / name
    run.mkdir(parents=True)
    if metrics is None:
        (run / started_with).write_text("")  # started, not finished
    else:
        (run / "metrics.json").write_text(json.dumps(metrics))
    if at is not None:
        for path in run.iterdir():
            os.utime(path, (at, at))
    return run


@pytest.fixture
def project_with_runs(tmp_path):
    project = tmp_path / "demo.db"
    make_project(project, {"p": ["a", "b"]})
    models = default_models_folder(project)
    now = time.time()
    write_run(models, "rm-1", REWARD, at=now - 300)
    write_run(models, "sft-1", SFT, at=now - 200)
    write_run(models, "ppo-1", PPO, at=now - 100)
    write_run(models, "ppo-2", started_with="checkpoints", at=now)
    (models / "notes").mkdir()  # a folder that is not a run
    (models / "broken").mkdir()
    (models / "broken" / "metrics.json").write_text("{not json")
    os.utime(models / "broken" / "metrics.json", (now - 400, now - 400))  # the oldest
    return project


def test_runs_are_listed_newest_first_with_the_figure_that_says_how_each_went(project_with_runs):
    folder = default_models_folder(project_with_runs)
    assert folder.name == "demo.models"
    runs = {run.name: run for run in list_runs(folder)}
    assert list(runs)[:4] == ["ppo-2", "ppo-1", "sft-1", "rm-1"]
    assert "notes" not in runs
    assert runs["rm-1"].kind == "reward model"
    assert runs["rm-1"].headline == (
        "held-out accuracy 65.7% on 360 pairs; annotators agree 72.0% (the ceiling); the longer answer wins 55.5%"
    )
    assert (runs["sft-1"].kind, runs["sft-1"].headline) == ("SFT policy", "loss 2.500 → 1.250")
    assert runs["ppo-1"].headline == "score -0.500 → 0.750, KL 0.125 in 100 steps"
    assert not runs["ppo-2"].finished
    assert runs["ppo-2"].headline.startswith("not finished")
    assert not runs["broken"].finished
    assert "cannot be read" in runs["broken"].headline
    assert run_kind({"algo": "rloo"}) == "RLOO policy"
    assert list_runs(folder / "missing") == []


def test_the_models_tab_lists_the_runs_and_shows_the_chosen_ones_metrics(qtbot, project_with_runs, monkeypatch):
    window = MainWindow(open_store(project_with_runs), "ann", settings_in(project_with_runs.parent))
    qtbot.addWidget(window)
    window.show()
    window.tabs.setCurrentIndex(2)
    view = window.models
    cells = [[view.table.item(row, column).text() for column in (0, 1)] for row in range(view.table.rowCount())]
    assert cells[:4] == [
        ["ppo-2", "unknown"],
        ["ppo-1", "PPO policy"],
        ["sft-1", "SFT policy"],
        ["rm-1", "reward model"],
    ]
    assert view.table.item(1, 2).text() != "not finished"
    assert view.table.item(0, 2).text() == "not finished"
    view.table.selectRow(3)
    assert '"eval_accuracy": 0.657' in view.details.toPlainText()
    assert not view.empty_note.isVisible()
    assert not window.task_view.actions_by_name["submit"].isEnabled()  # the labelling keys rest here

    other = project_with_runs.parent / "elsewhere"
    other.mkdir()
    monkeypatch.setattr("labeler.ui.file_dialogs.existing_directory", lambda *a, **k: str(other))
    [other_folder] = view.findChildren(QPushButton)
    other_folder.click()
    assert view.folder == other
    assert view.table.rowCount() == 0
    assert view.empty_note.isVisible()
    assert f"--out {other / 'reward-1'}" in view.empty_note.text()


def rated(model: str, rating: float, battles: int = 20) -> dict:
    return {"model": model, "rating": rating, "rating_low": rating - 30, "rating_high": rating + 30, "battles": battles}


def test_a_policy_is_rated_against_its_parent_in_the_annotators_rankings(tmp_path):
    folder = tmp_path / "demo.models"
    write_run(folder, "ppo-1", {**PPO, "policy": "smollm2"})
    write_run(folder, "sft-2", {**SFT, "base": str(tmp_path / "demo.models" / "ppo-1")})
    write_run(folder, "rm-1", REWARD)
    runs = {run.name: run for run in list_runs(folder)}
    models = [rated("ppo-1", 1100), rated("smollm2", 900)]
    # 200 points apart on the Elo scale: P = 1 / (1 + 10^(-200/400)) = 0.7597
    assert rating_against_parent(runs["ppo-1"], models) == (
        "rated 1100 (1070–1130) against its parent smollm2 900 (870–930): its answer preferred 76% of the time, "
        "from 20 battles"
    )
    assert rating_against_parent(runs["sft-2"], models).startswith("not rated yet: rank answers generated with sft-2")
    assert rating_against_parent(runs["sft-2"], [rated("sft-2", 1000)]) == (
        "rated 1000 (970–1030); its parent ppo-1 has no ranked answers to compare with"
    )
    assert rating_against_parent(runs["rm-1"], models) is None
    assert parent_model_name({"policy": "smollm2"}) == "smollm2"
    assert parent_model_name({"base": "/runs/sft-1"}) == "sft-1"
    assert parent_model_name({}) is None


def test_the_models_tab_shows_the_rounds_and_the_tuned_policy_beside_its_parent(qtbot, tmp_path):
    """Round 1: smollm2's answers; round 2: ppo-1's two answers beside the carried best of round 1, ranked
    above it: ppo-1 is rated above its parent, in the runs table and the rounds table."""
    project = tmp_path / "demo.db"
    make_project(project, {f"p{n}": [NewAnswer(f"a{n}", "smollm2"), NewAnswer(f"b{n}", "smollm2")] for n in range(3)})
    write_run(default_models_folder(project), "ppo-1", {**PPO, "policy": "smollm2"})
    with open_store(project) as store:
        for prompt_id in store.prompt_ids():
            first = list(store.task(prompt_id).answer_ids)
            store.record_judgement(prompt_id, "ann", Judgement.ranked(Ranking.of(first)), first)
            store.add_round(store.prompt(prompt_id).content, [NewAnswer(f"new {prompt_id} {k}", "ppo-1") for k in "xy"])
            second = list(store.task(prompt_id).answer_ids)
            best_last = [store.task(prompt_id).carried]
            store.record_judgement(
                prompt_id,
                "ann",
                Judgement.ranked(Ranking.of([[a for a in second if a not in best_last], best_last])),
                second,
            )
    window = MainWindow(open_store(project), "ann", settings_in(tmp_path))
    qtbot.addWidget(window)
    window.show()
    window.tabs.setCurrentIndex(2)
    view = window.models
    qtbot.waitUntil(lambda: view.report is not None)
    assert view.table.item(0, 0).text() == "ppo-1"
    assert "rated 1" in view.table.item(0, 3).text()
    assert "against its parent smollm2" in view.table.item(0, 3).text()
    assert "In the annotators' rankings: rated" in view.details.toPlainText()
    rows = [[view.rounds.item(row, column).text() for column in range(5)] for row in range(view.rounds.rowCount())]
    assert [row[:3] for row in rows] == [["1", "3", "3"], ["2", "3", "3"]]
    assert rows[0][4] == "-"  # one model in round 1: no battle
    ratings = dict(rating.split() for rating in rows[1][4].split(" · "))
    assert list(ratings) == ["ppo-1", "smollm2"]  # strongest first
    assert float(ratings["ppo-1"]) > float(ratings["smollm2"])
