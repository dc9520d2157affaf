"""Stage 3 of the method: a policy tuned with PPO against the reward model, kept near where it started.

    train_ppo(cfg) reads top to bottom. Once: the prompts (from a snapshot of the project, or a file), the
    policy, its frozen reference, the reward model and a value model. Then each step:
      1 rollout     a batch of prompts, left-padded in the policy's chat template -> responses sampled with
                    `generate` (temperature, top-p, at most response_length tokens; under --lora from a copy
                    with the adapters merged, lora_sampler.py); each response's mask
                    runs up to and including its first end-of-sequence token; the log-probabilities of the
                    sampled tokens under the policy at the sampling temperature, and under the reference
      2 score       each response decoded to text and scored by the reward model as `labeler-train reward`
                    scores an answer (its own tokenizer and chat template), normalised with the mean and
                    deviation the reward trainer saved; minus --missing-eos-penalty when it never ended
      3 KL          per-token KL to the reference (k1, or k3), times a fixed coefficient or one the adaptive
                    controller moves toward --target-kl; the score is added on the response's last token
      4 advantages  the value model's value of every response token (a sequence classifier whose score head
                    reads every position; it starts as --value-model when given, else as the reward model
                    when that one reads the policy's tokens causally, else as the policy with a new head,
                    and keeps only its first --value-layers layers), GAE,
                    advantages whitened over the batch
      5 PPO epochs  several passes over shuffled minibatches: clipped policy loss + value_coef × clipped value
                    loss, gradients clipped, one optimiser step per minibatch
      6 log         metrics.jsonl (a line per step), samples.jsonl, progress / events, checkpoints
    At the end: the policy in --out, and the value model in --out/value_model/ (for a next round's --value-model).

Here: the loop, step by step. Beside it: the arithmetic (masked statistics, GAE, KL estimators, losses,
controllers) in ppo_math.py, tested against hand-computed values; the models in ppo_models.py; which prompts
a step draws, masks and sampling in rollout.py; `--algo rloo` in rloo.py.

The loop runs under `accelerate launch` unchanged: each process samples its own prompts, the policy and
value model are prepared together (so their gradients are synchronised), only the main process reports
and saves. A checkpoint holds the whole state (the weights of policy and value model, optimiser, scheduler,
random generators, the KL coefficient), so `--resume` continues with the very same rollouts.

`--lora` trains LoRA adapters on the policy; the reference is the same weights with the adapters switched
off, so the model is held once. `--algo rloo` hands the same prompts, policy and reward to TRL's
RLOOTrainer instead (the maintained alternative) and writes the same files.

Shapes: B responses in a batch (b in a minibatch), P prompt tokens (left-padded), T response tokens
(right-padded), V the vocabulary, H the hidden size.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch import Tensor, nn
from transformers import (
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from trainer.configs import PPO_LEARNING_RATES, PPOConfig
from trainer.data import project_prompts, read_prompts_file
from trainer.encoding import Prompt
from trainer.errors import TrainerError
from trainer.events import Progress
from trainer.models import load_policy, load_trained_reward_model, use_bf16
from trainer.ppo_judge import PolicyJudge, check_judge_options
from trainer.ppo_math import (
    AdaptiveKLController,
    FixedKLController,
    clipped_policy_loss,
    clipped_value_loss,
    entropy_from_logits,
    gae,
    logprobs_from_logits,
    masked_mean,
    masked_whiten,
    rewards_with_kl,
)
from trainer.ppo_models import (
    VALUE_MODEL,
    PolicyAndValue,
    disable_dropout,
    reference_logits,
    reward_normalisation,
    save_value_model,
    saved_value_model,
    starting_value_model,
    value_model_folder,
)
from trainer.rollout import prompt_indices, prompt_token_ids, response_mask, sampling_config, stop_ids, window
from trainer.runs import (
    append_jsonl,
    check_output_folder,
    config_record,
    cut_logs,
    finish_run,
    load_last_checkpoint,
    lora_config,
    peft_deprecation_hidden,
    save_checkpoint,
)
from trainer.scoring import pad, score_texts
from trainer.stopping import RunStopped, checked_at_step_ends, requested

if TYPE_CHECKING:
    from trainer.lora_sampler import MergedSampler

PROMPTS_NAME = "prompts.jsonl"  # the prompts of the run, kept in --out while training so --resume reads the same


def train_ppo(cfg: PPOConfig) -> dict:
    """Tune the policy as `cfg` says, save it with its logs; return the metrics written to metrics.json."""
    if cfg.learning_rate is None:  # resolved here, so metrics.json says which rate the run used
        cfg = replace(cfg, learning_rate=PPO_LEARNING_RATES[cfg.lora])
    _check(cfg)
    started = time.monotonic()
    accelerator = Accelerator()
    accelerator.wait_for_everyone()  # every process has checked --out before the main one writes there
    out = Path(cfg.out)
    report = accelerator.is_main_process
    if cfg.events or not sys.stderr.isatty():
        hf_logging.disable_progress_bar()  # "Loading weights" and "Writing model shards" would litter a log

    prompts, prompts_digest = _prompts(cfg, accelerator)
    policy, tokenizer, policy_folder = load_policy(cfg.policy)
    reward_model, reward_tokenizer = load_trained_reward_model(Path(cfg.reward))
    reward_model.eval().requires_grad_(False)
    normalise = reward_normalisation(Path(cfg.reward))
    common = {
        "policy": str(cfg.policy),
        "policy_folder": str(policy_folder),
        "reward": str(cfg.reward),
        "reward_normalisation": normalise,
        "prompts": len(prompts),
        "prompts_sha256": prompts_digest,
    }
    if cfg.algo == "rloo":
        from trainer.rloo import train_rloo  # TRL, imported only for it

        metrics = train_rloo(cfg, prompts, policy, tokenizer, reward_model, reward_tokenizer, normalise, report)
    else:
        set_seed(cfg.seed, device_specific=True)  # each process samples its own responses
        training = _set_up(
            cfg, accelerator, policy, tokenizer, policy_folder, reward_model, reward_tokenizer, normalise
        )
        metrics = _train_ppo(cfg, accelerator, prompts, tokenizer, training, report)
    metrics = {**metrics, **common, "seconds": round(time.monotonic() - started, 3)}
    metrics["config"] = config_record(cfg)
    accelerator.wait_for_everyone()
    if report:
        finish_run(out, metrics, out / PROMPTS_NAME)
    return metrics


def _check(cfg: PPOConfig) -> None:
    if cfg.algo not in ("ppo", "rloo"):
        raise TrainerError(f"--algo is ppo or rloo, not {cfg.algo!r}")
    if cfg.bf16 not in ("auto", "on", "off"):
        raise TrainerError(f"--bf16 is auto, on or off, not {cfg.bf16!r}")
    if cfg.kl_estimator not in ("k1", "k3"):
        raise TrainerError(f"--kl-estimator is k1 or k3, not {cfg.kl_estimator!r}")
    if cfg.steps < 1 or cfg.ppo_epochs < 1 or cfg.response_length < 1 or cfg.max_prompt_length < 1:
        raise TrainerError("--steps, --ppo-epochs, --response-length and --max-prompt-length must be at least 1")
    if cfg.batch_size < 2 or not 1 <= cfg.mini_batch_size <= cfg.batch_size:
        raise TrainerError("--batch-size ≥ 2 and 1 ≤ --mini-batch-size ≤ --batch-size, please")
    if cfg.learning_rate <= 0 or cfg.temperature <= 0 or not 0 < cfg.top_p <= 1:
        raise TrainerError("--learning-rate > 0, --temperature > 0 and 0 < --top-p ≤ 1, please")
    if cfg.value_layers < 0:
        raise TrainerError("--value-layers ≥ 0 (0: all of them), please")
    if cfg.target_kl is not None and cfg.target_kl <= 0:
        raise TrainerError("--target-kl must be positive")
    if cfg.algo == "rloo" and (cfg.target_kl is not None or cfg.kl_estimator != "k1"):
        raise TrainerError(
            "--algo rloo: TRL's RLOO penalises KL with a fixed coefficient and k1 (no --target-kl, no k3)"
        )
    if cfg.algo == "rloo" and (cfg.rloo_generations < 2 or cfg.batch_size % cfg.rloo_generations):
        raise TrainerError("--algo rloo: --rloo-generations ≥ 2 and dividing --batch-size, please")
    if cfg.algo == "rloo" and cfg.value_model is not None:
        raise TrainerError("--algo rloo has no value model: --value-model is for --algo ppo")
    if cfg.value_model is not None:
        value_model_folder(Path(cfg.value_model))  # an error now, before anything is written
    if cfg.algo == "rloo" and cfg.batch_size % cfg.mini_batch_size:
        raise TrainerError("--algo rloo: --mini-batch-size must divide --batch-size")
    if cfg.prompts_file is None and not Path(cfg.project).is_file():
        raise TrainerError(f"{cfg.project}: no such project file")
    if cfg.prompts_file is not None and not Path(cfg.prompts_file).is_file():
        raise TrainerError(f"{cfg.prompts_file}: no such file")
    check_judge_options(cfg)
    check_output_folder(Path(cfg.out), cfg.resume)
    if cfg.resume:
        _check_unfinished(Path(cfg.out))


def _check_unfinished(out: Path) -> None:
    """A finished run kept no checkpoint (no optimiser state) to resume: it is the start of a next round."""
    if (out / "metrics.json").is_file():
        value_model = f" --value-model {out}" if (out / VALUE_MODEL).is_dir() else ""
        raise TrainerError(f"{out}: this run has finished; start a next round from it: --policy {out}{value_model}")


# --- Prompts --------------------------------------------------------------------------------------------


def _prompts(cfg: PPOConfig, accelerator: Accelerator) -> tuple[list[Prompt], str]:
    """The run's prompts and their sha256. Written once to out/prompts.jsonl, which a resumed run reads back."""
    kept = Path(cfg.out) / PROMPTS_NAME
    if not (cfg.resume and kept.is_file()) and accelerator.is_main_process:
        prompts = read_prompts_file(Path(cfg.prompts_file)) if cfg.prompts_file else project_prompts(cfg.project)
        if not prompts:
            raise TrainerError(f"{cfg.prompts_file or cfg.project}: no prompts to train on")
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        partial = kept.with_suffix(".partial")
        partial.write_text("".join(json.dumps(prompt, ensure_ascii=False) + "\n" for prompt in prompts))
        partial.replace(kept)
    accelerator.wait_for_everyone()
    data = kept.read_bytes()
    return [json.loads(line) for line in data.decode().splitlines()], hashlib.sha256(data).hexdigest()


# --- The PPO loop ---------------------------------------------------------------------------------------------


@dataclass
class _Training:
    """What the loop trains and reads, made once before the first step."""

    model: nn.Module  # PolicyAndValue, prepared by accelerate
    unwrapped: PolicyAndValue
    trainable: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    reference: PreTrainedModel | None  # None with --lora: the policy with its adapters off
    reward_model: PreTrainedModel
    reward_tokenizer: PreTrainedTokenizerBase
    normalise: dict
    kl_control: FixedKLController | AdaptiveKLController
    sampling: GenerationConfig
    stop: Tensor  # (S,) the tokens that end a response
    value_init: str
    saved_generation_config: GenerationConfig
    bf16: bool  # autocast the models' computations (--bf16)
    sampler: MergedSampler | None  # with --lora: the policy with its adapters merged, to sample from

    def autocast(self) -> torch.autocast:
        """bf16 autocast where --bf16 chose it, a no-op otherwise; what comes out of the models is upcast to
        fp32 before any log-probability, value or loss is taken (ppo_math, PolicyAndValue)."""
        return torch.autocast(self.stop.device.type, dtype=torch.bfloat16, enabled=self.bf16)


@dataclass
class _Rollout:
    """Step 1's result for a batch of B prompts."""

    sequences: Tensor  # (B, P + T) prompt and response tokens
    query_mask: Tensor  # (B, P)
    mask: Tensor  # (B, T) 1 up to and including each response's stop token
    ended: Tensor  # (B,) bool: the response has a stop token
    attention_mask: Tensor  # (B, P + T)
    logprobs: Tensor  # (B, T) of the sampled tokens under the policy, at the sampling temperature
    ref_logprobs: Tensor  # (B, T) the same under the reference
    values: Tensor  # (B, T)
    entropy: Tensor  # () mean over the response tokens

    @property
    def responses(self) -> Tensor:
        return self.sequences[:, self.query_mask.shape[1] :]  # (B, T)


def _train_ppo(
    cfg: PPOConfig,
    accelerator: Accelerator,
    prompts: list[Prompt],
    tokenizer: PreTrainedTokenizerBase,
    training: _Training,
    report: bool,
) -> dict:
    """Our loop (the module docstring's steps 1-6); returns the metrics of the run for metrics.json."""
    out = Path(cfg.out)
    device, world = accelerator.device, accelerator.num_processes
    step = 0
    if cfg.resume:
        # The value model comes back with the policy (both are the prepared model), whatever it started as.
        resumed = load_last_checkpoint(cfg.out, accelerator)
        step, training.kl_control.value = resumed["step"], resumed["kl_coef"]
    if report:
        cut_logs(out, step)  # what a killed run logged after its last checkpoint is logged again
    progress = Progress(cfg.steps, cfg.events, "ppo", enabled=report)
    progress.emit(
        "start", total_steps=cfg.steps, algo="ppo", prompts=len(prompts), value_init=training.value_init,
        resumed_at=step,
    )  # fmt: skip
    judge = PolicyJudge(cfg, tokenizer, device) if cfg.judge and report else None  # ppo_judge.py
    prompt_ids: dict[int, list[int]] = {}
    loop_started, first_step, first_score, last_row = time.monotonic(), step + 1, None, {}
    with checked_at_step_ends():
        while step < cfg.steps:
            step += 1
            step_started = time.monotonic()
            indices = prompt_indices(len(prompts), step, cfg.batch_size, accelerator.process_index, world, cfg.seed)
            batch_prompts = [prompts[index] for index in indices]
            missing = [index for index in dict.fromkeys(indices) if index not in prompt_ids]
            if missing:  # each prompt is rendered once per run
                encoded = prompt_token_ids(tokenizer, [prompts[index] for index in missing], cfg.max_prompt_length)
                prompt_ids.update(zip(missing, encoded, strict=True))
            queries, query_mask = pad([prompt_ids[index] for index in indices], tokenizer.pad_token_id, left=True)

            with torch.no_grad(), training.autocast():
                rollout = _roll_out(cfg, training, queries.to(device), query_mask.to(device))  # 1
                answers, scores, penalised = _score(cfg, training, tokenizer, batch_prompts, rollout)  # 2
                kl_coef = training.kl_control.value  # 3
                rewards, kl = rewards_with_kl(
                    penalised, rollout.logprobs, rollout.ref_logprobs, rollout.mask, kl_coef, cfg.kl_estimator
                )  # (B, T), (B, T)
                advantages, returns = gae(rewards, rollout.values, rollout.mask, cfg.gamma, cfg.lam)  # 4  (B, T) each
                advantages = masked_whiten(advantages, rollout.mask)  # mean 0, variance 1 over the real tokens

            learning_rate = training.scheduler.get_last_lr()[0]
            losses = _ppo_epochs(cfg, accelerator, training, rollout, advantages, returns)  # 5
            training.scheduler.step()

            # 6 log: means over the batch (over every process's batch)
            row = _step_row(accelerator, rollout, scores, rewards, kl, losses)
            training.kl_control.update(row["kl"], cfg.batch_size * world)
            row = {"step": step, "episodes": step * cfg.batch_size * world, **row}
            row.update(kl_coef=kl_coef, learning_rate=learning_rate, seconds=round(time.monotonic() - step_started, 4))
            if judge is not None and judge.due(step):
                row.update(judge(training.unwrapped.policy, training.reference))
            first_score = row["score"] if first_score is None else first_score
            last_row = row
            if report:
                append_jsonl(out / "metrics.jsonl", row)
                if cfg.sample_every and (step % cfg.sample_every == 0 or step == 1):
                    for index in range(min(cfg.samples, len(answers))):
                        sample = {"step": step, "prompt": batch_prompts[index], "answer": answers[index]}
                        sample.update(score=float(scores[index]), ended=bool(rollout.ended[index]))
                        append_jsonl(out / "samples.jsonl", sample)
            progress.step(
                step,
                **{key: row[key] for key in ("score", "kl", "entropy", "clip_fraction", "value_loss")},
                approx_kl=row["approx_kl"],
                learning_rate=learning_rate,
            )
            stop = requested() and step < cfg.steps
            if stop or (cfg.save_steps and step % cfg.save_steps == 0 and step < cfg.steps):
                save_checkpoint(cfg.out, accelerator, step, progress, kl_coef=training.kl_control.value)
            if stop:
                raise RunStopped(step)
    progress.close()
    train_seconds = time.monotonic() - loop_started

    accelerator.wait_for_everyone()
    if report:
        _save_policy(cfg, accelerator.unwrap_model(training.model).policy, tokenizer, training)
        save_value_model(training.unwrapped.value_model, tokenizer, out)
    episodes = (step - first_step + 1) * cfg.batch_size * world
    return {
        "algo": "ppo",
        "steps": step,
        "episodes": step * cfg.batch_size * world,
        "first_score": first_score,  # of this process's first step (the resumed step, after --resume)
        "last_score": last_row.get("score"),
        "last_kl": last_row.get("kl"),
        "kl_coef": training.kl_control.value,
        "train_seconds": round(train_seconds, 3),
        "episodes_per_second": round(episodes / train_seconds, 3) if train_seconds > 0 else None,
        "value_init": training.value_init,
        "value_layers": training.unwrapped.value_model.config.num_hidden_layers,
        "bf16": training.bf16,
        "lora": cfg.lora,
    }


def _set_up(
    cfg: PPOConfig,
    accelerator: Accelerator,
    policy: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    policy_folder: Path,
    reward_model: PreTrainedModel,
    reward_tokenizer: PreTrainedTokenizerBase,
    normalise: dict,
) -> _Training:
    """The value model, the reference, sampling, optimiser, schedule and KL controller, prepared by accelerate."""
    if cfg.value_model is not None:
        value_model, value_init = saved_value_model(Path(cfg.value_model), tokenizer, cfg.value_layers), "saved"
    else:
        value_model, value_init = starting_value_model(
            Path(cfg.reward), reward_tokenizer, policy_folder, tokenizer, cfg.value_layers
        )
    stops = stop_ids(policy, tokenizer)
    # Sampling is set here in full: the model's own generation config (top-k 50, a repetition penalty, ...)
    # would change the distribution the tokens come from, and the log-probabilities would no longer be its.
    saved_generation_config = policy.generation_config
    policy.generation_config = GenerationConfig(
        eos_token_id=stops, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id
    )
    sampler = None
    if cfg.lora:
        from peft import get_peft_model

        from trainer.lora_sampler import MergedSampler  # peft, imported only with --lora

        sampler = MergedSampler(policy, torch.bfloat16 if use_bf16(cfg.bf16) else torch.float32)
        sampler.model.to(accelerator.device)
        with peft_deprecation_hidden():
            policy = get_peft_model(policy, lora_config(cfg.lora_rank, cfg.lora_alpha))
        reference = None  # the policy with its adapters disabled
    else:
        reference = copy.deepcopy(policy).eval().requires_grad_(False)
    for module in (policy, value_model, reward_model, reference):
        if module is not None:
            disable_dropout(module)

    model = PolicyAndValue(policy, value_model)
    model.train()
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    # eps 1e-5 as in OpenAI's lm-human-preferences and cleanrl: Adam's step stays bounded on near-zero gradients.
    # Fused: one kernel for all parameters (on the CPU torch otherwise updates them one tensor at a time).
    optimizer = torch.optim.AdamW(
        trainable,
        lr=cfg.learning_rate,
        eps=1e-5,
        weight_decay=0.0,
        fused=accelerator.device.type in ("cpu", "cuda"),
    )
    # Linear decay to 0, one step per rollout batch. Not passed to prepare(), which would step it once per process.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda done: max(0.0, 1.0 - done / cfg.steps))
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    if reference is not None:
        reference.to(accelerator.device)
    reward_model.to(accelerator.device)
    kl_control = (
        AdaptiveKLController(cfg.kl_coef, cfg.target_kl, cfg.kl_horizon)
        if cfg.target_kl is not None
        else FixedKLController(cfg.kl_coef)
    )
    return _Training(
        model=model,
        unwrapped=accelerator.unwrap_model(model),
        trainable=trainable,
        optimizer=optimizer,
        scheduler=scheduler,
        reference=reference,
        reward_model=reward_model,
        reward_tokenizer=reward_tokenizer,
        normalise=normalise,
        kl_control=kl_control,
        sampling=sampling_config(cfg, stops, tokenizer),
        stop=torch.tensor(stops, device=accelerator.device),
        value_init=value_init,
        saved_generation_config=saved_generation_config,
        bf16=use_bf16(cfg.bf16),
        sampler=sampler,
    )


def _roll_out(cfg: PPOConfig, training: _Training, queries: Tensor, query_mask: Tensor) -> _Rollout:
    """Step 1: responses sampled for the left-padded queries (B, P), and what the policy, the reference and
    the value model make of them, minibatch by minibatch."""
    policy, device = training.unwrapped.policy, queries.device
    sampler = training.sampler.merged(policy) if training.sampler is not None else policy  # lora_sampler.py
    sequences = sampler.generate(
        input_ids=queries, attention_mask=query_mask, generation_config=training.sampling
    )  # (B, P + T)
    responses = sequences[:, queries.shape[1] :]  # (B, T)  T ≤ response_length: generate stops when all ended
    mask, ended = response_mask(responses, training.stop)  # (B, T), (B,)
    # Nothing after a response's stop token is attended to: it is padding, whatever generate wrote there.
    attention_mask = torch.cat([query_mask, mask], dim=1)  # (B, P + T)
    # (B, T) each, filled minibatch by minibatch; 0 past a minibatch's longest response (masked anyway).
    logprobs, ref_logprobs, values, entropies = (torch.zeros(responses.shape, device=device) for _ in range(4))
    for rows in torch.arange(len(queries), device=device).split(cfg.mini_batch_size):
        columns, width = window(query_mask, mask, rows)
        inputs = (sequences[rows][:, columns], attention_mask[rows][:, columns])  # (b, ≤ P + T) each
        taken = responses[rows][:, :width]  # (b, t)
        logits, value = training.model(*inputs, width)  # (b, t, V), (b, t)
        logits = logits / cfg.temperature  # the distribution the tokens were sampled from
        logprobs[rows, :width] = logprobs_from_logits(logits, taken)  # (b, t)
        entropies[rows, :width] = entropy_from_logits(logits)  # (b, t)
        values[rows, :width] = value  # (b, t)
        del logits
        with policy.disable_adapter() if training.reference is None else nullcontext():
            ref_logits = reference_logits(training.reference or policy, *inputs, width)  # (b, t, V)
        ref_logprobs[rows, :width] = logprobs_from_logits(ref_logits / cfg.temperature, taken)  # (b, t)
        del ref_logits
    return _Rollout(
        sequences, query_mask, mask, ended, attention_mask, logprobs, ref_logprobs, values, masked_mean(entropies, mask)
    )


def _score(
    cfg: PPOConfig,
    training: _Training,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Prompt],
    rollout: _Rollout,
) -> tuple[list[str], Tensor, Tensor]:
    """Step 2: (the answers as text, without their stop token; their normalised scores (B,); the scores minus
    the missing-eos penalty (B,)), each answer read by the reward model its own way."""
    lengths = rollout.mask.sum(dim=1) - rollout.ended.long()  # (B,)  answer tokens
    answers = tokenizer.batch_decode(
        [response[:n] for response, n in zip(rollout.responses.tolist(), lengths.tolist(), strict=True)],
        skip_special_tokens=True,
    )
    normalise = training.normalise
    raw = score_texts(training.reward_model, training.reward_tokenizer, prompts, answers, normalise["max_length"])
    scores = ((raw - normalise["mean"]) / normalise["std"]).to(rollout.mask.device)  # (B,)
    if cfg.missing_eos_penalty is None:
        return answers, scores, scores
    return answers, scores, scores - cfg.missing_eos_penalty * (~rollout.ended).float()


def _ppo_epochs(
    cfg: PPOConfig,
    accelerator: Accelerator,
    training: _Training,
    rollout: _Rollout,
    advantages: Tensor,
    returns: Tensor,
) -> Tensor:
    """Step 5: passes over shuffled minibatches, one optimiser step each; (minibatches, 5): policy loss, value
    loss, clip fraction, value clip fraction, approx KL."""
    losses = []
    responses = rollout.responses
    for _ in range(cfg.ppo_epochs):
        for rows in torch.randperm(len(responses), device=responses.device).split(cfg.mini_batch_size):
            columns, width = window(rollout.query_mask, rollout.mask, rows)
            inputs = (rollout.sequences[rows][:, columns], rollout.attention_mask[rows][:, columns])  # (b, ≤ P + T)
            with training.autocast():
                logits, new_values = training.model(*inputs, width)  # (b, t, V), (b, t)
            new_logprobs = logprobs_from_logits(logits / cfg.temperature, responses[rows][:, :width])  # (b, t)
            kept = rollout.mask[rows][:, :width]  # (b, t)
            policy_loss = clipped_policy_loss(
                new_logprobs, rollout.logprobs[rows][:, :width], advantages[rows][:, :width], kept, cfg.clip_range
            )
            value_loss = clipped_value_loss(
                new_values, rollout.values[rows][:, :width], returns[rows][:, :width], kept, cfg.clip_range_value
            )
            accelerator.backward(policy_loss.loss + cfg.value_coef * value_loss.loss)
            accelerator.clip_grad_norm_(training.trainable, cfg.max_grad_norm)
            training.optimizer.step()
            training.optimizer.zero_grad()
            losses.append(
                torch.stack(
                    [
                        policy_loss.loss.detach(),
                        value_loss.loss.detach(),
                        policy_loss.clip_fraction,
                        value_loss.clip_fraction,
                        policy_loss.approx_kl,
                    ]
                )
            )
    return torch.stack(losses)


STEP_METRICS = ("score", "reward", "kl", "entropy", "response_length", "eos_fraction")
STEP_METRICS += ("policy_loss", "value_loss", "clip_fraction", "value_clip_fraction", "approx_kl")


def _step_row(
    accelerator: Accelerator, rollout: _Rollout, scores: Tensor, rewards: Tensor, kl: Tensor, losses: Tensor
) -> dict[str, float]:
    """Step 6's figures, means over every process's batch (the KL per response, summed over its tokens)."""
    summary = torch.stack(
        [
            scores.mean(),
            rewards.sum(dim=1).mean(),
            kl.sum(dim=1).mean(),
            rollout.entropy,
            rollout.mask.sum(dim=1).float().mean(),
            rollout.ended.float().mean(),
            *losses.mean(dim=0),
        ]
    )
    return dict(zip(STEP_METRICS, accelerator.reduce(summary, reduction="mean").tolist(), strict=True))


def _save_policy(cfg: PPOConfig, policy: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, training: _Training):
    out = Path(cfg.out)
    if cfg.lora:
        policy.save_pretrained(out / "adapter")  # the adapters alone, for peft
        policy = policy.merge_and_unload()  # and the policy as a plain model folder, like a full fine-tune
    policy.generation_config = training.saved_generation_config
    policy.save_pretrained(out)
    tokenizer.save_pretrained(out)
