"""`labeler-train ppo` on tiny models: it raises the reward at a bounded KL, and is correct on the way there.

The reward counts a target word: a reward model trained by `labeler-train reward` on rankings where the
answer that says "great" more often wins (as in test_reward_training). The policy is a tiny language model
taught the project's answers for a moment first, so it writes their words and says "great" now and then;
PPO then has something to reinforce. Everything is built once per module, offline, in a few seconds.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import trl
from helpers.training_runs import assert_same_weights, kill_at_first_checkpoint, weights
from safetensors.torch import load_file
from tiny_models import (
    GREAT_REWARD_SETTINGS,
    build_great_project,
    make_causal_lm,
    make_reward_model,
    make_tokenizer,
    warm_up_policy,
)
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from labeler.store import open_read_only
from trainer import ppo
from trainer.data import read_prompts_file
from trainer.errors import TrainerError
from trainer.models import load_policy
from trainer.ppo import PPOConfig, train_ppo
from trainer.ppo_math import logprobs_from_logits
from trainer.ppo_models import PolicyAndValue, starting_value_model
from trainer.reward import RewardConfig, train_reward
from trainer.rollout import prompt_indices, prompt_token_ids, response_mask, sampling_config, window
from trainer.scoring import pad

torch.set_num_threads(1)

PROMPTS = 24
# Small and fast: one minibatch per batch, two passes, a learning rate a tiny model can move with; every weight
# trained (LoRA, the default, has its own tests below).
FAST = {
    "batch_size": 16,
    "mini_batch_size": 16,
    "ppo_epochs": 2,
    "learning_rate": 1e-3,
    "response_length": 12,
    "lora": False,
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ppo")
    texts, pairs = build_great_project(root / "project.db", PROMPTS)
    tokenizer = make_tokenizer(texts)
    make_reward_model(tokenizer, root / "reward-base")
    train_reward(
        RewardConfig(
            project=root / "project.db", out=root / "reward", base=str(root / "reward-base"), **GREAT_REWARD_SETTINGS
        )
    )
    policy = make_causal_lm(tokenizer)
    warm_up_policy(policy, tokenizer, pairs, steps=120)
    policy.save_pretrained(root / "policy")
    tokenizer.save_pretrained(root / "policy")
    return {"project": root / "project.db", "reward": root / "reward", "policy": root / "policy", "root": root}


def config(workspace, out: Path, **changes) -> PPOConfig:
    settings = {
        "project": workspace["project"],
        "out": out,
        "reward": workspace["reward"],
        "policy": str(workspace["policy"]),
        **FAST,
        **changes,
    }
    return PPOConfig(**settings)


def metric_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def tokenizer_vocabulary(folder: Path) -> dict[str, int]:
    return AutoTokenizer.from_pretrained(folder).get_vocab()


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


# --- Learning ------------------------------------------------------------------------------------------------


def test_ppo_raises_the_score_within_a_few_steps_and_keeps_the_kl_bounded(workspace, tmp_path, capsys):
    out = tmp_path / "out"
    metrics = train_ppo(config(workspace, out, steps=8, kl_coef=0.2, sample_every=4, events=True))

    rows = metric_rows(out)
    assert [row["step"] for row in rows] == list(range(1, 9))
    scores = [row["score"] for row in rows]
    assert mean(scores[-3:]) > scores[0] + 0.4, scores  # the answers now say "great" more often
    # Step 1 samples from the policy as it started, which is the reference: no drift yet, exactly.
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-6)
    assert max(row["kl"] for row in rows) < 5.0  # KL per response, in nats, over ~6-12 tokens
    for row in rows:
        assert {"entropy", "clip_fraction", "value_loss", "approx_kl", "learning_rate", "seconds"} <= set(row)
        assert row["entropy"] > 0
        assert 0 <= row["clip_fraction"] <= 1
    assert rows[0]["learning_rate"] == pytest.approx(1e-3)
    assert rows[-1]["learning_rate"] < rows[0]["learning_rate"]  # linear decay over the steps

    assert metrics["value_init"] == "reward"  # the reward model reads the policy's tokens: it starts the values
    assert metrics["steps"] == 8
    assert metrics["episodes"] == 8 * 16
    assert metrics["last_score"] == scores[-1]
    assert json.loads((out / "metrics.json").read_text()) == metrics
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [sample["step"] for sample in samples] == [1] * 4 + [4] * 4 + [8] * 4
    assert all(sample["prompt"].startswith("Question") and isinstance(sample["answer"], str) for sample in samples)

    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["event"] == "start"
    assert events[0]["total_steps"] == 8
    assert [event["step"] for event in events if event["event"] == "step"] == list(range(1, 9))

    # The policy is a plain model folder that generates; nothing else of the run is left behind.
    model = AutoModelForCausalLM.from_pretrained(out)
    assert AutoTokenizer.from_pretrained(out).padding_side == "left"
    changed = [
        name
        for name, tensor in model.state_dict().items()
        if not torch.equal(tensor, weights(workspace["policy"])[name])
    ]
    assert changed
    assert not (out / "checkpoints").exists()
    assert not (out / "prompts.jsonl").exists()
    # The value model too, for a next round's --value-model.
    value_model = AutoModelForSequenceClassification.from_pretrained(out / "value_model")
    assert value_model.config.num_labels == 1
    assert AutoTokenizer.from_pretrained(out / "value_model").get_vocab() == tokenizer_vocabulary(out)


def test_log_probabilities_are_those_of_the_sampling_distribution(workspace):
    """generate's own scores (logits / temperature, nothing else) against ours, token by token."""
    policy, tokenizer, _ = load_policy(workspace["policy"])
    policy.eval()
    cfg = config(workspace, workspace["root"] / "unused", temperature=1.7, response_length=10)
    stop_ids = [tokenizer.eos_token_id]
    prompts = ["Question 1: tell me", "Question 22: tell me about river and more and more", "hi"]
    queries, query_mask = pad(prompt_token_ids(tokenizer, prompts, 512), tokenizer.pad_token_id, left=True)
    torch.manual_seed(0)
    generated = policy.generate(
        input_ids=queries,
        attention_mask=query_mask,
        generation_config=sampling_config(cfg, stop_ids, tokenizer),
        output_scores=True,
        return_dict_in_generate=True,
    )
    responses = generated.sequences[:, queries.shape[1] :]
    mask, _ = response_mask(responses, torch.tensor(stop_ids))
    sampled = torch.log_softmax(torch.stack(generated.scores, dim=1), dim=-1)  # (B, T, V)
    expected = sampled.gather(-1, responses.unsqueeze(-1)).squeeze(-1)  # (B, T)

    value_model, _ = starting_value_model(workspace["reward"], tokenizer, workspace["policy"], tokenizer)
    model = PolicyAndValue(policy, value_model)
    with torch.no_grad():
        logits, values = model(generated.sequences, torch.cat([query_mask, mask], dim=1), responses.shape[1])
    ours = logprobs_from_logits(logits / cfg.temperature, responses)
    torch.testing.assert_close(ours[mask.bool()], expected[mask.bool()], atol=1e-4, rtol=0)
    assert values.shape == responses.shape

    # A minibatch reads only its own window of columns: the same numbers at its real tokens.
    attention_mask = torch.cat([query_mask, mask], dim=1)
    for rows in (torch.tensor([2]), torch.tensor([0, 2])):
        columns, width = window(query_mask, mask, rows)
        assert width == int(mask[rows].sum(dim=1).max())
        with torch.no_grad():
            part_logits, part_values = model(
                generated.sequences[rows][:, columns], attention_mask[rows][:, columns], width
            )
        real = mask[rows][:, :width].bool()
        torch.testing.assert_close(part_logits[real], logits[rows][:, :width][real], atol=1e-5, rtol=0)
        torch.testing.assert_close(part_values[real], values[rows][:, :width][real], atol=1e-5, rtol=0)
    assert window(query_mask, mask, torch.tensor([2]))[0].start > 0  # "hi" is the shortest prompt: no left padding


@pytest.mark.parametrize("bf16", ["off", "on"])
def test_with_no_learning_the_epochs_see_the_rollout_policy_and_the_penalty_is_charged(workspace, tmp_path, bf16):
    """Ratio 1 everywhere when the weights cannot move: same masks, positions and temperature in both passes,
    and under bf16 autocast the same precision in both (log-probabilities taken in fp32 all the same)."""
    out = tmp_path / "out"
    metrics = train_ppo(
        config(workspace, out, steps=1, learning_rate=1e-30, response_length=3, missing_eos_penalty=2.0, bf16=bf16)
    )
    assert metrics["bf16"] is (bf16 == "on")
    row = metric_rows(out)[0]
    assert row["clip_fraction"] == 0.0
    assert row["approx_kl"] < 1e-7
    assert row["kl"] == pytest.approx(0.0, abs=1e-6)
    assert row["eos_fraction"] < 1  # 3 tokens are too few for most answers
    # The reward is the score minus the penalty for each answer that did not end (and no KL yet).
    assert row["reward"] == pytest.approx(row["score"] - 2.0 * (1 - row["eos_fraction"]), abs=1e-5)


# --- Pieces ----------------------------------------------------------------------------------------------------


def test_the_response_mask_ends_with_the_first_stop_token():
    responses = torch.tensor([[5, 2, 7, 2], [5, 6, 7, 8], [2, 0, 0, 0], [9, 9, 3, 1]])
    mask, ended = response_mask(responses, torch.tensor([2, 3]))
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0]]
    assert ended.tolist() == [True, False, True, True]


def test_prompts_are_drawn_in_passes_and_the_draw_depends_only_on_the_step():
    drawn = [prompt_indices(10, step, 4, 0, 1, seed=3) for step in range(1, 6)]  # 20 draws = 2 passes
    flat = [index for batch in drawn for index in batch]
    assert sorted(flat[:10]) == list(range(10))
    assert sorted(flat[10:]) == list(range(10))
    assert flat[:10] != flat[10:]  # a fresh shuffle each pass
    assert prompt_indices(10, 4, 4, 0, 1, seed=3) == drawn[3]  # as a resumed run draws it
    # Two processes: each its own share of the same passes.
    both = prompt_indices(10, 1, 5, 0, 2, seed=3) + prompt_indices(10, 1, 5, 1, 2, seed=3)
    assert sorted(both) == list(range(10))


def test_a_prompts_file_in_any_import_format_gives_its_prompts(tmp_path):
    rows = [
        {"prompt": "alone"},
        {"prompt": [{"role": "user", "content": "a chat"}]},
        {"prompt": "with answers", "answers": ["x", "y"]},
        {"prompt": "a pair", "chosen": "good", "rejected": "bad"},
        {"prompt": "ranked", "answers": ["x", "y"], "ranking": [1, 0]},
    ]
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert read_prompts_file(path) == [
        "alone",
        [{"role": "user", "content": "a chat"}],
        "with answers",
        "a pair",
        "ranked",
    ]
    path.write_text('{"prompt": "fine"}\n{"prompt": ""}\nnot json\n')
    with pytest.raises(TrainerError, match=r"(?s)2 bad rows.*:2: the prompt is empty"):
        read_prompts_file(path)


def test_the_value_model_starts_from_the_policy_when_the_reward_model_reads_other_tokens(workspace, tmp_path):
    other = make_tokenizer(["completely different words here", "zebra quartz"] * 20)
    make_reward_model(other, tmp_path / "other-reward")
    tokenizer = AutoTokenizer.from_pretrained(workspace["policy"])
    model, start = starting_value_model(tmp_path / "other-reward", other, workspace["policy"], tokenizer)
    assert start == "policy"
    assert model.config.vocab_size == len(tokenizer)


def test_a_second_round_starts_its_value_model_from_the_one_the_first_round_saved(workspace, tmp_path):
    first = tmp_path / "first"
    train_ppo(config(workspace, first, steps=1))
    # Finished, it has nothing to resume (no checkpoint, no optimiser state): it is where a next round starts.
    with pytest.raises(TrainerError, match=re.escape(f"has finished; start a next round from it: --policy {first} --")):
        train_ppo(config(workspace, first, steps=2, resume=True))
    assert not (first / "prompts.jsonl").exists()
    second = tmp_path / "second"
    # The weights cannot move: the second round's value model is the first round's, as it was read.
    metrics = train_ppo(config(workspace, second, policy=str(first), value_model=first, steps=1, learning_rate=1e-30))
    assert metrics["value_init"] == "saved"
    assert metrics["config"]["value_model"] == str(first)
    saved, again = weights(first / "value_model"), weights(second / "value_model")
    assert saved.keys() == again.keys()
    for name in saved:
        torch.testing.assert_close(again[name], saved[name], rtol=0, atol=1e-20)
    # ... which is not the reward model a fresh one would start from: one step of PPO moved it.
    assert not torch.equal(saved["score.weight"], weights(workspace["reward"])["score.weight"])


def test_value_layers_keeps_the_first_layers_of_the_value_models_start_and_saves_that_many(workspace, tmp_path):
    out = tmp_path / "shallow"
    # The weights cannot move: the value model is the reward model's first layer, read as it was saved, with a
    # head at 0 (the reward's head was fitted to the last layer's states, not to the first's).
    metrics = train_ppo(config(workspace, out, steps=1, value_layers=1, learning_rate=1e-30))
    assert metrics["value_init"] == "reward"
    assert metrics["value_layers"] == 1
    reward, value = weights(workspace["reward"]), weights(out / "value_model")
    assert any(".layers.1." in name for name in reward)
    assert not any(".layers.1." in name for name in value)
    assert set(value) <= set(reward)
    for name in value:
        want = torch.zeros_like(reward[name]) if name.startswith("score.") else reward[name]
        torch.testing.assert_close(value[name], want, rtol=0, atol=1e-20)
    assert json.loads((out / "value_model" / "config.json").read_text())["num_hidden_layers"] == 1
    # As many layers as the model has, or more, or 0: all of them, and the reward's head as it was.
    for layers in (2, 9, 0):
        whole = tmp_path / f"whole-{layers}"
        done = train_ppo(config(workspace, whole, steps=1, value_layers=layers, learning_rate=1e-30))
        assert done["value_layers"] == 2
        head = weights(whole / "value_model")["score.weight"]
        torch.testing.assert_close(head, reward["score.weight"], rtol=0, atol=1e-20)
    # A second round reads the saved shallow value model as it is.
    again = train_ppo(config(workspace, tmp_path / "again", value_model=out, steps=1, learning_rate=1e-30))
    assert again["value_init"] == "saved"
    assert again["value_layers"] == 1


def test_nonsense_is_refused_clearly(workspace, tmp_path):
    with pytest.raises(TrainerError, match=r"rloo.*fixed coefficient"):
        train_ppo(config(workspace, tmp_path / "o", algo="rloo", target_kl=1.0, batch_size=8, mini_batch_size=8))
    with pytest.raises(TrainerError, match="no such project file"):
        train_ppo(config(workspace, tmp_path / "o", project=tmp_path / "missing.db"))
    with pytest.raises(TrainerError, match="mini-batch-size"):
        train_ppo(config(workspace, tmp_path / "o", mini_batch_size=32))
    with pytest.raises(TrainerError, match="no value model here"):
        train_ppo(config(workspace, tmp_path / "o", value_model=tmp_path / "missing"))
    with pytest.raises(TrainerError, match="not a value model"):
        train_ppo(config(workspace, tmp_path / "o", value_model=workspace["policy"]))
    with pytest.raises(TrainerError, match="rloo has no value model"):
        train_ppo(config(workspace, tmp_path / "o", algo="rloo", value_model=workspace["reward"]))
    with pytest.raises(TrainerError, match="--bf16 is auto, on or off"):
        train_ppo(config(workspace, tmp_path / "o", bf16="yes"))
    with pytest.raises(TrainerError, match="--value-layers ≥ 0"):
        train_ppo(config(workspace, tmp_path / "o", value_layers=-1))
    assert not (tmp_path / "o").exists()
    other = make_tokenizer(["completely different words here", "zebra quartz"] * 20)
    make_reward_model(other, tmp_path / "other-value")
    with pytest.raises(TrainerError, match="reads other tokens than the policy"):
        train_ppo(config(workspace, tmp_path / "o2", value_model=tmp_path / "other-value"))
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "model.safetensors").write_text("")
    with pytest.raises(TrainerError, match="the folder is not empty"):
        train_ppo(config(workspace, tmp_path / "used"))


# --- LoRA and RLOO ------------------------------------------------------------------------------------------------


def test_the_defaults_train_lora_adapters_with_a_shallow_value_model_and_move_the_policy(workspace, tmp_path):
    out = tmp_path / "defaults"
    # The defaults but for the run's length and the response length a tiny model is fast with.
    settings = {"project": workspace["project"], "out": out, "reward": workspace["reward"]}
    metrics = train_ppo(PPOConfig(**settings, policy=str(workspace["policy"]), steps=3, response_length=12))
    assert metrics["lora"] is True
    assert metrics["value_layers"] == 2  # the tiny reward model has 2 layers: all of them
    assert metrics["config"]["ppo_epochs"] == 4
    assert metrics["config"]["learning_rate"] == 3e-4  # LoRA's rate
    rows = metric_rows(out)
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-6)
    assert all(row["clip_fraction"] > 0 for row in rows)  # the step is large enough to reach the clip
    assert rows[-1]["kl"] != 0
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert not torch.equal(weights(out)["model.layers.0.self_attn.q_proj.weight"],
                           weights(workspace["policy"])["model.layers.0.self_attn.q_proj.weight"])  # fmt: skip


def test_without_lora_the_default_learning_rate_is_one_for_every_weight(workspace, tmp_path):
    metrics = train_ppo(config(workspace, tmp_path / "full", steps=1, lora=False, learning_rate=None))
    assert metrics["config"]["learning_rate"] == 1e-5


def test_lora_trains_only_the_adapters_and_saves_a_merged_policy(workspace, tmp_path):
    out = tmp_path / "out"
    metrics = train_ppo(config(workspace, out, steps=2, lora=True, lora_rank=4, lora_alpha=8))
    rows = metric_rows(out)
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # adapters start at zero: the policy is the reference
    assert rows[1]["kl"] != 0  # and the adapters moved it
    assert metrics["lora"] is True

    adapters = load_file(out / "adapter" / "adapter_model.safetensors")
    assert adapters
    assert all("lora_" in name for name in adapters)
    assert any(name.endswith("lora_B.weight") and tensor.abs().sum() > 0 for name, tensor in adapters.items())
    # Merged: exactly the linear layers the adapters sit on differ from the base; embeddings, norms and the
    # output head are the base's, bit for bit.
    base, merged = weights(workspace["policy"]), weights(out)
    adapted = {name.split("base_model.model.")[-1].split(".lora_")[0] + ".weight" for name in adapters}
    for name, tensor in base.items():
        if name in adapted:
            assert not torch.equal(merged[name], tensor), name
        else:
            assert torch.equal(merged[name], tensor), name
    assert "lm_head.weight" not in adapted
    assert "model.embed_tokens.weight" not in adapted


def test_the_merged_sampling_copy_computes_what_the_adapted_policy_computes(workspace):
    from peft import get_peft_model

    from trainer.lora_sampler import MergedSampler
    from trainer.runs import lora_config, peft_deprecation_hidden

    policy, tokenizer, _ = load_policy(workspace["policy"])
    sampler = MergedSampler(policy, torch.float32)
    with peft_deprecation_hidden():
        adapted = get_peft_model(policy, lora_config(4, 8)).eval()
    torch.manual_seed(0)
    with torch.no_grad():  # adapters as training leaves them: B no longer 0
        for name, parameter in adapted.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    ids = torch.tensor([tokenizer("the cat says great things").input_ids])
    with torch.no_grad():
        before = adapted(input_ids=ids).logits
    merged = sampler.merged(adapted)
    with torch.no_grad(), adapted.disable_adapter():
        base = adapted(input_ids=ids).logits
    with torch.no_grad():
        want, have = adapted(input_ids=ids).logits, merged(input_ids=ids).logits
    assert not torch.allclose(want, base, atol=1e-3)  # the adapters matter
    assert torch.equal(want, before)  # merging into the copy left the trained model as it was
    torch.testing.assert_close(have, want, rtol=1e-4, atol=1e-4)
    # The copy follows the adapters as they move.
    with torch.no_grad():
        for name, parameter in adapted.named_parameters():
            if "lora_B" in name:
                parameter.mul_(-1)
        again = adapted(input_ids=ids).logits
    torch.testing.assert_close(sampler.merged(adapted)(input_ids=ids).logits, again, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(again, want, atol=1e-3)


def test_rloo_runs_two_steps_and_writes_the_same_files(workspace, tmp_path):
    out = tmp_path / "out"
    metrics = train_ppo(
        config(workspace, out, algo="rloo", steps=2, batch_size=8, mini_batch_size=8, ppo_epochs=1, rloo_generations=2)
    )
    rows = metric_rows(out)
    assert [row["step"] for row in rows] == [1, 2]
    assert all(isinstance(row["score"], float) and row["kl"] is not None for row in rows)
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["algo"] == "rloo"
    assert metrics["steps"] == 2
    assert metrics["episodes"] == 16
    assert AutoModelForCausalLM.from_pretrained(out) is not None
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert not (out / "checkpoints").exists()


def test_rloo_cuts_each_prompt_to_its_last_max_prompt_length_tokens_as_ppo_does(workspace, tmp_path, monkeypatch):
    """TRL 1.16's RLOOConfig has no prompt-length setting: the cut is ours, in TRL's _tokenize_prompts."""
    generated_from = []
    original = trl.RLOOTrainer._generate_single_turn

    def spy(self, prompt_ids, *args, **kwargs):
        generated_from.extend(tuple(ids) for ids in prompt_ids)
        return original(self, prompt_ids, *args, **kwargs)

    monkeypatch.setattr(trl.RLOOTrainer, "_generate_single_turn", spy)
    train_ppo(
        config(
            workspace, tmp_path / "out", algo="rloo", steps=1, batch_size=8, mini_batch_size=8, ppo_epochs=1,
            max_prompt_length=5,
        )
    )  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(workspace["policy"])
    with open_read_only(workspace["project"]) as store:
        prompts = [prompt.content for prompt in store.prompts(store.prompt_ids()).values()]
    assert len(prompt_token_ids(tokenizer, prompts, 512)[0]) > 5  # a cut that matters
    assert len(generated_from) == 8
    assert set(generated_from) <= {tuple(ids) for ids in prompt_token_ids(tokenizer, prompts, 5)}


def test_ppo_scores_with_a_head_tuned_reward_model_as_it_was_trained(workspace, tmp_path):
    # --tune head saves a classifier read by the mean of its last layer (reward_pooling "mean"): PPO must read
    # it that way, and may start its value model from its body (same tokens, causal).
    reward = tmp_path / "head-reward"
    train_reward(
        RewardConfig(
            project=workspace["project"], out=reward, base=str(workspace["root"] / "reward-base"), tune="head",
            bf16="off",
        )
    )  # fmt: skip
    out = tmp_path / "out"
    metrics = train_ppo(config(workspace, out, reward=reward, steps=2, batch_size=8, mini_batch_size=8, ppo_epochs=1))
    rows = metric_rows(out)
    assert [row["step"] for row in rows] == [1, 2]
    assert all(isinstance(row["score"], float) for row in rows)
    assert metrics["value_init"] == "reward"


# --- On a GPU ------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA GPU here: the GPU path (models on cuda, fused AdamW) needs one"
)
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_on_a_gpu_the_same_run_trains_there(workspace, tmp_path, monkeypatch, lora):
    """No option asks for the GPU: accelerate picks it, and every model the loop reads must be on it."""
    seen = []
    original = ppo._roll_out

    def spy(cfg, training, queries, query_mask):
        seen.append(training)
        return original(cfg, training, queries, query_mask)

    monkeypatch.setattr(ppo, "_roll_out", spy)
    metrics = train_ppo(config(workspace, tmp_path / "out", steps=2, lora=lora, lora_rank=4, lora_alpha=8))
    training = seen[0]
    models = [training.unwrapped.policy, training.unwrapped.value_model, training.reward_model]
    models += [training.reference] if training.reference is not None else []  # --lora: the policy, adapters off
    assert {parameter.device.type for model in models for parameter in model.parameters()} == {"cuda"}
    assert training.stop.device.type == "cuda"
    assert training.optimizer.optimizer.defaults["fused"] is True
    assert metrics["steps"] == 2
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "out") is not None


# --- The command line, in a subprocess ------------------------------------------------------------------------------


def labeler_train(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args], capture_output=True, text=True, env=env, timeout=300
    )


def ppo_args(workspace, out: Path, *extra: str) -> list[str]:
    return [
        "ppo",
        str(workspace["project"]),
        "--policy",
        str(workspace["policy"]),
        "--reward",
        str(workspace["reward"]),
        "--out",
        str(out),
        "--threads",
        "1",
        "--no-lora",
        "--steps",
        "4",
        "--batch-size",
        "8",
        "--mini-batch-size",
        "4",
        "--ppo-epochs",
        "2",
        "--learning-rate",
        "1e-3",
        "--response-length",
        "8",
        "--target-kl",
        "0.5",
        "--kl-estimator",
        "k3",
        "--save-steps",
        "2",
        "--events",
        *extra,
    ]


@pytest.fixture(scope="module")
def whole_run(workspace, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("whole") / "out"
    return out, labeler_train(*ppo_args(workspace, out))


@pytest.mark.slow
def test_the_command_prints_only_json_events_on_stdout_and_ends_with_done(whole_run):
    out, result = whole_run
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]  # every line is JSON
    kinds = [event["event"] for event in events]
    assert kinds[0] == "start"
    assert kinds[-1] == "done"
    assert set(kinds) == {"start", "step", "checkpoint", "done"}
    assert [event["step"] for event in events if event["event"] == "checkpoint"] == [2]  # not after the last step
    last_step = [event for event in events if event["event"] == "step"][-1]
    assert {"score", "kl", "entropy", "clip_fraction", "value_loss", "approx_kl", "learning_rate"} <= set(last_step)
    assert last_step["step"] == last_step["total_steps"] == 4
    assert events[-1]["steps"] == 4
    assert events[-1]["config"]["kl_estimator"] == "k3"
    # The adaptive controller moved β from its start, in the direction of the target.
    rows = metric_rows(out)
    assert rows[0]["kl_coef"] == 0.05
    assert rows[-1]["kl_coef"] != 0.05


@pytest.mark.slow
def test_a_killed_run_resumed_ends_with_the_same_policy_and_log_as_an_uninterrupted_one(workspace, whole_run, tmp_path):
    """SIGKILL after the first checkpoint, then --resume: the same rollouts replay, the same policy and value
    model come out (the checkpoint held the value model: a fresh one would give other values, other advantages)."""
    whole, result = whole_run
    assert result.returncode == 0, result.stderr

    stopped = tmp_path / "stopped"
    kill_at_first_checkpoint(ppo_args(workspace, stopped), stopped)

    resumed = labeler_train(*ppo_args(workspace, stopped, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    first = json.loads(resumed.stdout.splitlines()[0])
    assert first["event"] == "start"
    assert first["resumed_at"] == 2
    assert_same_weights(whole, stopped)
    assert_same_weights(whole / "value_model", stopped / "value_model")
    # One line per step, as if never interrupted (the lines the killed run wrote after step 2 are replaced).
    strip = lambda rows: [{key: value for key, value in row.items() if key != "seconds"} for row in rows]  # noqa: E731
    assert strip(metric_rows(stopped)) == strip(metric_rows(whole))


def rloo_args(workspace, out: Path, *extra: str) -> list[str]:
    """ppo_args without what TRL's RLOO refuses (--target-kl, k3); 2 optimiser steps per rollout batch."""
    args = ppo_args(workspace, out, "--algo", "rloo", "--ppo-epochs", "1", *extra)
    for option in ("--target-kl", "--kl-estimator"):
        del args[args.index(option) : args.index(option) + 2]
    return args


def assert_resumed_at_step_2_and_finished(result: subprocess.CompletedProcess, out: Path) -> None:
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["event"] == "start"
    assert events[0]["resumed_at"] == 2
    assert [event["step"] for event in events if event["event"] == "step"] == [3, 4]
    assert [row["step"] for row in metric_rows(out)] == [1, 2, 3, 4]
    assert json.loads((out / "metrics.json").read_text())["steps"] == 4
    assert not (out / "checkpoints").exists()


@pytest.mark.slow
def test_a_killed_lora_run_resumed_ends_with_the_same_adapters_policy_and_value_model(workspace, tmp_path):
    lora = ("--lora", "--lora-rank", "4", "--lora-alpha", "8")
    whole = tmp_path / "whole"
    result = labeler_train(*ppo_args(workspace, whole, *lora))
    assert result.returncode == 0, result.stderr

    stopped = tmp_path / "stopped"
    kill_at_first_checkpoint(ppo_args(workspace, stopped, *lora), stopped)
    resumed = labeler_train(*ppo_args(workspace, stopped, *lora, "--resume"))

    assert_resumed_at_step_2_and_finished(resumed, stopped)
    adapters = lambda out: load_file(out / "adapter" / "adapter_model.safetensors")  # noqa: E731
    want, have = adapters(whole), adapters(stopped)
    assert want.keys() == have.keys()
    for name in want:
        torch.testing.assert_close(have[name], want[name], rtol=0, atol=0)
    assert_same_weights(whole, stopped)
    assert_same_weights(whole / "value_model", stopped / "value_model")


@pytest.mark.slow
def test_a_killed_rloo_run_resumed_ends_with_the_same_policy_as_an_uninterrupted_one(workspace, tmp_path):
    """TRL's Trainer checkpoint (weights, optimiser, scheduler, random generators, the sampler's place) at the
    end of a rollout batch: the resumed run samples the same responses and ends bit for bit where the
    uninterrupted one does."""
    whole = tmp_path / "whole"
    result = labeler_train(*rloo_args(workspace, whole))
    assert result.returncode == 0, result.stderr

    stopped = tmp_path / "stopped"
    kill_at_first_checkpoint(rloo_args(workspace, stopped), stopped)
    resumed = labeler_train(*rloo_args(workspace, stopped, "--resume"))

    assert_resumed_at_step_2_and_finished(resumed, stopped)
    assert_same_weights(whole, stopped)
    strip = lambda rows: [{key: value for key, value in row.items() if key != "seconds"} for row in rows]  # noqa: E731
    assert strip(metric_rows(stopped)) == strip(metric_rows(whole))


@pytest.mark.slow
def test_two_processes_share_the_work_and_report_once(workspace, tmp_path):
    """What `accelerate launch` does on several GPUs, done here with two CPU processes (gloo)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).parent / "torchrun"
    command = [str(torchrun), "--nproc_per_node", "2", "-m", "trainer"]
    command += ppo_args(workspace, tmp_path / "two", "--steps", "2")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [event["event"] for event in events]
    assert kinds.count("start") == kinds.count("done") == 1
    assert [event["step"] for event in events if event["event"] == "step"] == [1, 2]
    assert events[-1]["episodes"] == 2 * 8 * 2  # each process sampled its own 8 responses per step
    assert (tmp_path / "two" / "model.safetensors").is_file()
