"""`labeler-train reward --tune head`: a frozen body, a linear head fitted on the mean of its last layer.

The tiny project of test_reward_training (the more "great", the better) is learnable from mean-pooled
features of a random tiny model: the share of "great" tokens shows in the mean.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_reward_training import build_project
from tiny_models import make_reward_model, make_tokenizer

from labeler.store import open_read_only
from trainer.data import RankedPrompt, ranked_prompts, split_by_prompt
from trainer.errors import TrainerError
from trainer.models import load_trained_reward_model
from trainer.reward import RewardConfig, train_reward
from trainer.reward_head import MeanPooledReward, fit_head
from trainer.reward_loss import LossMargins
from trainer.scoring import score_texts

torch.set_num_threads(1)
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("head")
    texts = build_project(root / "project.db")
    make_reward_model(make_tokenizer(texts), root / "tiny-base")
    return {"project": root / "project.db", "base": root / "tiny-base"}


def head_config(workspace, out: Path, **changes) -> RewardConfig:
    settings = {"project": workspace["project"], "out": out, "base": str(workspace["base"]), "tune": "head"}
    return RewardConfig(**{**settings, "bf16": "off", **changes})


def test_the_head_learns_on_frozen_features_and_the_saved_model_scores_as_it_was_evaluated(workspace, tmp_path):
    out = tmp_path / "out"
    metrics = train_reward(head_config(workspace, out, layers=1, events=True))

    assert metrics["eval_accuracy"] >= 0.9  # 24 held-out pairs
    assert (metrics["loss"], metrics["config"]["tune"], metrics["config"]["layers"]) == ("head", "head", 1)
    assert metrics["steps"] > 0  # L-BFGS iterations
    saved = json.loads((out / "config.json").read_text())
    assert (saved["num_hidden_layers"], saved["reward_pooling"]) == (1, "mean")
    # The body is the base's first layer, untouched; the second layer is not saved at all.
    base, trained = load_file(workspace["base"] / "model.safetensors"), load_file(out / "model.safetensors")
    body = [name for name in trained if not name.startswith("score.")]
    assert body
    assert all(torch.equal(trained[name], base[name]) for name in body)
    assert not any(".layers.1." in name for name in trained)
    assert not torch.equal(trained["score.weight"], base["score.weight"])

    # Read back, it is the mean-pooled model, and its rewards over the training answers are the ones the
    # run measured from its cached features (reward_mean, reward_std: what PPO normalises with).
    model, tokenizer = load_trained_reward_model(out)
    assert isinstance(model, MeanPooledReward)
    with open_read_only(workspace["project"]) as store:
        train, _ = split_by_prompt(ranked_prompts(store), 0.1, 0)  # the run's own rule and seed
    answers = {(item.prompt_id, text): item.prompt for item in train for text in item.answers}
    scores = score_texts(model, tokenizer, list(answers.values()), [text for _, text in answers], 512).double()
    assert len(scores) == 36 * 4
    assert float(scores.mean()) == pytest.approx(metrics["reward_mean"], abs=1e-4)
    assert float(scores.std()) == pytest.approx(metrics["reward_std"], abs=1e-4)


def test_the_fitted_head_is_the_minimum_of_the_regularised_loss_on_the_raw_features():
    # Two answers, one pair, 1-d features 0 and 2: standardised (std over the two, 1.414) they are ∓0.707,
    # the difference d = 1.414. The optimum w of -log σ(w·d) + l2·w² satisfies d·σ(-w·d) = 2·l2·w.
    features = torch.tensor([[2.0], [0.0]])
    item = RankedPrompt(1, "p", ["a", "b"], [[0], [1]], [None], "x")
    weight, bias, loss, _ = fit_head(features, [item], LossMargins(), "prompt", l2=0.1)
    d = 2 / features[:, 0].std()
    w_standardised = float(weight[0]) * float(features[:, 0].std())  # folded back: w / σ
    assert float(d * torch.sigmoid(-w_standardised * d)) == pytest.approx(2 * 0.1 * w_standardised, rel=1e-5)
    # The raw-feature reward is the standardised one: chosen − rejected = w_std · d, and the mean maps to 0.
    assert float(features[0] @ weight + bias - (features[1] @ weight + bias)) == pytest.approx(w_standardised * d)
    assert float(features.mean(0) @ weight + bias) == pytest.approx(0.0, abs=1e-6)
    assert loss == pytest.approx(float(-torch.nn.functional.logsigmoid(torch.tensor(w_standardised) * d)), rel=1e-5)


def test_settings_that_do_not_fit_a_head_are_refused_before_any_output(workspace, tmp_path):
    for changes, message in [
        ({"loss": "pairwise"}, "--loss pairwise and --resume fine-tune the whole model: add --tune all"),
        ({"resume": True}, "--loss pairwise and --resume fine-tune the whole model: add --tune all"),
        ({"layers": 3}, "--layers 3: the model has 2 layers"),
        ({"head_l2": 0.0}, "--head-l2 > 0"),
    ]:
        with pytest.raises(TrainerError, match=message):
            train_reward(head_config(workspace, tmp_path / "refused", **changes))
        assert not (tmp_path / "refused").exists()


@pytest.mark.slow
def test_the_cli_trains_a_head_and_eval_reward_reads_it(workspace, tmp_path):
    out = tmp_path / "rm"
    done = subprocess.run(
        [BIN / "labeler-train", "reward", workspace["project"], "--out", out, "--tune", "head", "--layers", "2",
         "--head-l2", "0.3", "--bf16", "off", "--threads", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"reward model saved to {out}: " in done.stdout
    assert "reward (head): reading the answers" in done.stderr  # progress lines when stderr is a log
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["head_l2"] == 0.3
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        json.dumps(
            {"prompt": "Question: tell me", "chosen": "apple river great great great", "rejected": "apple river"}
        )
        + "\n"
    )
    evaluated = subprocess.run(
        [BIN / "labeler-train", "eval-reward", out, pairs, "--json"], capture_output=True, text=True, timeout=300
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["pairs"] == 1


@pytest.mark.slow
def test_the_default_command_fits_a_head_on_smollm2s_first_20_layers(tmp_path):
    # `labeler-train reward PROJECT --out DIR` and nothing else: the setting measured best on real human data.
    project = tmp_path / "project.db"
    build_project(project, prompts=16)
    out = tmp_path / "rm"
    done = subprocess.run(
        [BIN / "labeler-train", "reward", project, "--out", out, "--threads", "2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["base"], metrics["loss"], metrics["config"]["layers"]) == ("smollm2", "head", 20)
    saved = json.loads((out / "config.json").read_text())
    assert (saved["num_hidden_layers"], saved["reward_pooling"]) == (20, "mean")
    model, _ = load_trained_reward_model(out)
    assert isinstance(model, MeanPooledReward)
    assert metrics["eval_pairs"] == 12  # 2 held-out prompts of 4 ranked answers
    assert metrics["eval_accuracy"] >= 0.75  # more "great" is better: plain to a real model's features
