"""PPO's --judge on tiny models: the judge's win rate against the starting policy lands in metrics.jsonl at each
checkpoint and at the end, without changing the run, and its options are checked before anything is written."""

import json
from pathlib import Path

import pytest
import torch
from tiny_models import build_great_project, make_causal_lm, make_reward_model, make_tokenizer

from trainer.errors import TrainerError
from trainer.ppo import PPOConfig, train_ppo

torch.set_num_threads(1)

TINY = {"batch_size": 4, "mini_batch_size": 4, "ppo_epochs": 1, "learning_rate": 1e-3, "response_length": 6}
JUDGED = ("judge_win_rate", "judge_win_low", "judge_win_high")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    """A project of 8 prompts, an untrained policy, the reward PPO trains on and a different judge."""
    root = tmp_path_factory.mktemp("ppo-judge")
    texts, _ = build_great_project(root / "project.db", 8)
    tokenizer = make_tokenizer(texts)
    make_causal_lm(tokenizer, root / "policy")
    make_reward_model(tokenizer, root / "reward", seed=1)
    make_reward_model(tokenizer, root / "judge", seed=2)
    held_out = [{"prompt": f"Held out {index}: tell me about stone and wind"} for index in range(6)]
    (root / "held-out.jsonl").write_text("".join(json.dumps(row) + "\n" for row in held_out))
    return {"root": root}


def config(workspace, out: Path, **changes) -> PPOConfig:
    root = workspace["root"]
    settings = {"project": root / "project.db", "out": out, "reward": root / "reward", "policy": str(root / "policy")}
    return PPOConfig(**settings, **{**TINY, **changes})


def judged(workspace, out: Path, **changes) -> PPOConfig:
    root = workspace["root"]
    return config(workspace, out, **{"judge": root / "judge", "judge_prompts": root / "held-out.jsonl", **changes})


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_the_judge_scores_each_checkpoint_and_the_end_and_leaves_training_alone(workspace, tmp_path):
    train_ppo(judged(workspace, tmp_path / "judged", steps=3, save_steps=2, judge_prompt_count=4))
    logged = rows(tmp_path / "judged")
    assert [all(key in row for key in JUDGED) for row in logged] == [False, True, True]  # step 2 and the end
    for row in logged[1:]:
        assert 0 <= row["judge_win_low"] <= row["judge_win_rate"] <= row["judge_win_high"] <= 1
        assert row["judge_win_rate"] * 4 * 2 == round(row["judge_win_rate"] * 4 * 2)  # 4 prompts, ties half
    train_ppo(config(workspace, tmp_path / "plain", steps=3, save_steps=2))
    plain = rows(tmp_path / "plain")
    # The judge samples in a forked random state: the rollouts, so the scores and losses, are the same without it.
    assert [row["score"] for row in plain] == [row["score"] for row in logged]
    assert [row["policy_loss"] for row in plain] == [row["policy_loss"] for row in logged]


def test_a_judge_before_any_training_is_even_with_the_start(workspace, tmp_path):
    # A learning rate of 0 leaves the policy where it started: the same seed gives the same answers, all ties.
    train_ppo(judged(workspace, tmp_path / "run", steps=1, save_steps=0, learning_rate=1e-12))
    (row,) = rows(tmp_path / "run")
    assert row["judge_win_rate"] == 0.5


def test_with_lora_the_policy_without_its_adapters_is_the_start(workspace, tmp_path):
    train_ppo(judged(workspace, tmp_path / "run", steps=1, lora=True, lora_rank=2, lora_alpha=4))
    (row,) = rows(tmp_path / "run")
    assert all(key in row for key in JUDGED)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"judge_prompts": None}, "--judge needs --judge-prompts FILE"),
        ({"algo": "rloo"}, "--judge is for --algo ppo"),
        ({"judge_prompts": Path("nowhere.jsonl")}, "nowhere.jsonl: no such file"),
        ({"judge": Path("no-judge")}, "no-judge: no such model folder"),
        ({"judge_prompt_count": 0}, "--judge-prompt-count must be at least 1"),
    ],
)
def test_judge_options_are_checked_before_the_run_writes_anything(workspace, tmp_path, changes, message):
    with pytest.raises(TrainerError, match=message):
        train_ppo(judged(workspace, tmp_path / "out", steps=1, **changes))
    assert not (tmp_path / "out").exists()


def test_judge_prompts_without_a_judge_are_refused(workspace, tmp_path):
    with pytest.raises(TrainerError, match="--judge-prompts is for --judge RM"):
        train_ppo(config(workspace, tmp_path / "out", judge_prompts=workspace["root"] / "held-out.jsonl"))
