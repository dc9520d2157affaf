"""`labeler-train reward` end to end on a tiny model: it learns, it reports, it resumes, it refuses nonsense.

The project's rankings follow a hidden rule a tiny model can learn in seconds: the more times an answer
says "great", the better. Each test trains from the same tiny base model folder (built once).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.projects import make_project
from helpers.training_runs import assert_same_weights, kill_at_first_checkpoint, weights
from tiny_models import GREAT_REWARD_SETTINGS, build_great_project, make_reward_model, make_tokenizer
from transformers import AutoModelForSequenceClassification

from trainer.errors import TrainerError
from trainer.reward import RewardConfig, train_reward

torch.set_num_threads(1)

PROMPTS = 40


def build_project(path: Path, prompts: int = PROMPTS) -> list[str]:
    """Prompts with 4 answers of 6 words saying "great" 0..3 times, ranked by that count; their texts."""
    return build_great_project(path, prompts, words_per_answer=6)[0]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reward")
    texts = build_project(root / "project.db")
    make_reward_model(make_tokenizer(texts), root / "tiny-base")
    return {"project": root / "project.db", "base": root / "tiny-base", "root": root}


def config(workspace, out: Path, **changes) -> RewardConfig:
    settings = {
        "project": workspace["project"],
        "out": out,
        "base": str(workspace["base"]),
        **GREAT_REWARD_SETTINGS,
        **changes,
    }
    return RewardConfig(**settings)


def step_events(output: str) -> list[dict]:
    return [event for event in map(json.loads, output.splitlines()) if event["event"] == "step"]


@pytest.mark.parametrize("loss", ["grouped", "pairwise"])
def test_training_learns_the_rule_and_writes_a_loadable_model_with_its_metrics(workspace, tmp_path, capsys, loss):
    out = tmp_path / "out"
    metrics = train_reward(config(workspace, out, loss=loss, events=True))

    steps = step_events(capsys.readouterr().out)
    losses = [step["loss"] for step in steps]
    assert len(steps) == metrics["steps"] > 0
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 / 2  # the loss falls
    # Held out: 10% of 40 prompts = 4 prompts × 6 pairs, every pair counted.
    assert (metrics["eval_prompts"], metrics["eval_pairs"]) == (4, 24)
    assert (metrics["train_prompts"], metrics["train_pairs"]) == (36, 216)
    assert metrics["eval_accuracy"] >= 0.9
    assert metrics["reward_std"] > 0
    assert (metrics["eval_annotator_agreement"], metrics["eval_agreement_comparisons"]) == (None, 0)  # one annotator
    assert "eval_shown_earlier_wins" in metrics
    assert metrics["base"] == str(workspace["base"])
    assert metrics["loss"] == loss
    assert len(metrics["snapshot_sha256"]) == 64
    assert json.loads((out / "metrics.json").read_text()) == metrics

    trained = weights(out)
    base = weights(workspace["base"])
    changed = [name for name in base if name in trained and not torch.equal(base[name], trained[name])]
    assert len(changed) > len(base) // 2  # the body learnt, not only the score head
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.num_labels == 1
    # Leaves only the model behind: no snapshot, no checkpoints.
    assert not (out / "snapshot.db").exists()
    assert not (out / "checkpoints").exists()


def test_eval_accuracy_is_the_share_of_held_out_pairs_the_saved_model_orders_right(workspace, tmp_path):
    """Recomputed by hand from the saved model: pair-weighted over every held-out pair."""
    from labeler.store import open_read_only
    from trainer.data import pairs_of, ranked_prompts, split_by_prompt
    from trainer.models import load_trained_reward_model
    from trainer.scoring import score_texts

    out = tmp_path / "out"
    # A short run, so the accuracy is not simply 1.
    metrics = train_reward(config(workspace, out, epochs=1, learning_rate=1e-3))
    model, tokenizer = load_trained_reward_model(out)
    with open_read_only(workspace["project"]) as store:
        _, held_out = split_by_prompt(ranked_prompts(store), 0.1, 0)
    correct = total = 0
    for item in held_out:
        rewards = score_texts(model, tokenizer, [item.prompt] * len(item.answers), item.answers, 512).tolist()
        for chosen, rejected, _ in pairs_of(item):
            correct += rewards[chosen] > rewards[rejected]
            total += 1
    assert total == metrics["eval_pairs"] == 24
    assert metrics["eval_accuracy"] == pytest.approx(correct / total)


def test_reward_mean_and_std_are_over_the_distinct_training_answers(workspace, tmp_path):
    from labeler.store import open_read_only
    from trainer.data import ranked_prompts, split_by_prompt
    from trainer.models import load_trained_reward_model
    from trainer.scoring import score_texts

    out = tmp_path / "out"
    metrics = train_reward(config(workspace, out, epochs=1))
    model, tokenizer = load_trained_reward_model(out)
    with open_read_only(workspace["project"]) as store:
        train, _ = split_by_prompt(ranked_prompts(store), 0.1, 0)
    prompts = [item.prompt for item in train for _ in item.answers]
    answers = [answer for item in train for answer in item.answers]
    rewards = score_texts(model, tokenizer, prompts, answers, 512).double()
    assert metrics["reward_mean"] == pytest.approx(float(rewards.mean()), abs=1e-5)
    assert metrics["reward_std"] == pytest.approx(float(rewards.std()), abs=1e-5)


def test_nothing_is_dropped_when_the_inputs_are_longer_than_max_length(workspace, tmp_path):
    metrics = train_reward(config(workspace, tmp_path / "out", epochs=1, max_length=16))
    assert (metrics["train_pairs"], metrics["eval_pairs"]) == (216, 24)  # every pair kept
    assert metrics["prompts_cut"] == PROMPTS * 4  # every answer's prompt lost its start
    assert metrics["answers_cut"] == 0


def test_only_the_named_annotators_judgements_are_used(workspace, tmp_path):
    with pytest.raises(TrainerError, match="no ranked judgements by bob"):
        train_reward(config(workspace, tmp_path / "out", annotators=("bob",)))


def test_a_project_without_judgements_or_with_one_prompt_is_refused_clearly(tmp_path, workspace):
    make_project(tmp_path / "empty.db", {"p": ["a", "b"]})
    empty = RewardConfig(project=tmp_path / "empty.db", out=tmp_path / "o1", base=str(workspace["base"]))
    with pytest.raises(TrainerError, match="no ranked judgements"):
        train_reward(empty)
    build_project(tmp_path / "one.db", prompts=1)
    one = RewardConfig(project=tmp_path / "one.db", out=tmp_path / "o2", base=str(workspace["base"]))
    with pytest.raises(TrainerError, match=r"all judgements are of one prompt.*--eval-fraction 0"):
        train_reward(one)


def test_k_fold_holds_out_the_named_fold_and_refuses_a_fold_that_is_not_there(workspace, tmp_path):
    metrics = train_reward(config(workspace, tmp_path / "out", folds=4, fold=3, epochs=1))
    # 40 prompts in 4 folds: 10 held out, 6 pairs each; the other 30 trained on.
    assert (metrics["eval_prompts"], metrics["eval_pairs"], metrics["train_prompts"]) == (10, 60, 30)
    assert (metrics["config"]["folds"], metrics["config"]["fold"]) == (4, 3)
    with pytest.raises(TrainerError, match=r"^--fold 5 of --folds 4: use at least 2 folds, numbered from 1$"):
        train_reward(config(workspace, tmp_path / "other", folds=4, fold=5))
    assert not (tmp_path / "other").exists()


def test_a_folder_that_is_not_a_model_is_refused_clearly_and_leaves_no_output(tmp_path, workspace):
    (tmp_path / "not-a-model").mkdir()
    with pytest.raises(TrainerError, match="not a Hugging Face model folder"):
        train_reward(config(workspace, tmp_path / "out", base=str(tmp_path / "not-a-model")))
    assert not (tmp_path / "out").exists()  # so the corrected command can use the same --out
    with pytest.raises(TrainerError, match="no such model folder"):
        train_reward(config(workspace, tmp_path / "out", base=str(tmp_path / "missing")))


# --- the command line, in a subprocess ----------------------------------------------------------------


def labeler_train(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "trainer", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, **kwargs)


def train_args(workspace, out: Path, *extra: str) -> list[str]:
    return [
        "reward",
        str(workspace["project"]),
        "--out",
        str(out),
        "--base",
        str(workspace["base"]),
        "--threads",
        "1",
        "--tune",
        "all",
        "--epochs",
        "4",
        "--learning-rate",
        "3e-3",
        "--batch-size",
        "16",
        *extra,
    ]


@pytest.mark.slow
def test_the_command_prints_only_json_events_on_stdout_and_ends_with_done(workspace, tmp_path):
    result = labeler_train(*train_args(workspace, tmp_path / "out", "--events"))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]  # every line is JSON
    kinds = [event["event"] for event in events]
    assert kinds[0] == "start"
    assert kinds[-1] == "done"
    assert set(kinds) == {"start", "step", "done"}
    last_step = [event for event in events if event["event"] == "step"][-1]
    assert {"step", "total_steps", "loss", "accuracy", "learning_rate", "eta_seconds"} <= set(last_step)
    assert last_step["step"] == last_step["total_steps"]
    assert last_step["eta_seconds"] == 0
    assert events[-1]["eval_accuracy"] >= 0.9


@pytest.mark.slow
def test_the_command_says_what_it_did_in_one_line_and_refuses_a_used_folder(workspace, tmp_path):
    out = tmp_path / "out"
    # alice did all the ranking; naming someone who did none as well changes nothing.
    result = labeler_train(*train_args(workspace, out, "--annotator", "alice", "zed", "--folds", "5", "--fold", "2"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"reward model saved to {out}: ")
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["config"]["annotators"] == ["alice", "zed"]
    assert (saved["config"]["folds"], saved["config"]["fold"], saved["eval_prompts"]) == (5, 2, 8)
    assert "held-out pairs" in result.stdout
    # stderr is a pipe here, as in a log file: plain progress lines, the last at the last step, and
    # not the tokenizer's "longer than the maximum" warning about sequences we cut ourselves.
    progress = [line for line in result.stderr.splitlines() if line.startswith("reward (grouped): step ")]
    assert progress, result.stderr
    assert re.match(r"reward \(grouped\): step (\d+)/\1, loss ", progress[-1]), progress[-1]
    assert "Token indices sequence length" not in result.stderr
    again = labeler_train(*train_args(workspace, out))
    assert again.returncode == 1
    assert (
        again.stderr.strip()
        == f"labeler-train: error: {out}: the folder is not empty (choose a new one, or --resume a run stopped there)"
    )


@pytest.mark.slow
def test_errors_reach_the_app_as_an_error_event(tmp_path, workspace):
    result = labeler_train(*train_args(workspace, tmp_path / "out", "--events", "--base", str(tmp_path)))
    assert result.returncode == 1
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "event": "error",
        "message": f"{tmp_path}: not a Hugging Face model folder (it has no config.json)",
    }
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_killed_run_resumed_ends_with_the_same_weights_as_an_uninterrupted_one(workspace, tmp_path):
    """SIGKILL after the first checkpoint, then --resume: the same batches replay, the same model comes out."""
    whole = tmp_path / "whole"
    assert labeler_train(*train_args(workspace, whole, "--save-steps", "10")).returncode == 0

    stopped = tmp_path / "stopped"
    kill_at_first_checkpoint(train_args(workspace, stopped, "--save-steps", "10", "--events"), stopped)

    resumed = labeler_train(*train_args(workspace, stopped, "--save-steps", "10", "--events", "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    first = json.loads(resumed.stdout.splitlines()[0])
    assert first["event"] == "start"
    assert first["resumed_at"] >= 10
    assert_same_weights(whole, stopped)
    assert (
        json.loads((stopped / "metrics.json").read_text())["snapshot_sha256"]
        == json.loads((whole / "metrics.json").read_text())["snapshot_sha256"]
    )


@pytest.mark.slow
def test_two_processes_share_the_batches_and_report_once(workspace, tmp_path):
    """What `accelerate launch` does on several GPUs, done here with two CPU processes (gloo)."""
    single = train_reward(config(workspace, tmp_path / "single"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).parent / "torchrun"
    command = [str(torchrun), "--nproc_per_node", "2", "-m", "trainer"]
    command += train_args(workspace, tmp_path / "two", "--events")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [event["event"] for event in events]
    assert kinds.count("start") == kinds.count("done") == 1
    # 36 training rankings of 4 answers, 16 answers per step: 9 batches an epoch, 4 epochs. Two processes
    # take every other batch, 5 each (accelerate repeats one so both step together).
    assert single["steps"] == 4 * 9
    assert events[0]["total_steps"] == 4 * 5
    assert events[-1]["eval_pairs"] == single["eval_pairs"]
    assert events[-1]["eval_accuracy"] >= 0.9
    assert (tmp_path / "two" / "model.safetensors").is_file()
