"""`--algo rloo`: TRL's RLOOTrainer on the same prompts, policy and reward as our PPO loop, writing the same files.

RLOO samples rloo_generations responses per prompt and uses the others' mean reward as each one's baseline,
so it needs no value model. TRL's RLOO penalises KL with a fixed β and the k1 estimator.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from trainer.configs import PPOConfig
from trainer.encoding import Prompt, render
from trainer.events import Progress
from trainer.rollout import stop_ids as policy_stop_ids
from trainer.runs import (
    append_jsonl,
    cut_logs,
    lora_config,
    peft_deprecation_hidden,
    quiet,
    trl_arguments,
    trl_checkpoint_to_resume,
)
from trainer.scoring import score_texts


def _reward_function(
    reward_model: PreTrainedModel,
    reward_tokenizer: PreTrainedTokenizerBase,
    normalise: dict,
    missing_eos_penalty: float | None,
    stop_ids: list[int],
):
    """A TRL reward function that scores as our PPO loop does: the reward model reads (prompt, answer) its own way
    (trainer.scoring), the score is normalised with the reward trainer's mean and deviation, and a response that
    never ended loses missing_eos_penalty."""

    def reward_model_score(prompts, completions, completion_ids, log_metric=None, **_) -> list[float]:
        # Conversational rows: a prompt is a list of messages and a completion is [{"role": "assistant", ...}].
        answers = [
            completion[-1]["content"] if isinstance(completion, list) else completion for completion in completions
        ]
        ours = [list(prompt) if isinstance(prompt, list) else prompt for prompt in prompts]
        raw = score_texts(reward_model, reward_tokenizer, ours, answers, normalise["max_length"])  # (N,)
        scores = (raw - normalise["mean"]) / normalise["std"]  # (N,)
        ended = torch.tensor([bool(ids) and ids[-1] in stop_ids for ids in completion_ids])  # (N,)
        if log_metric is not None:
            log_metric("score", float(scores.mean()))
            log_metric("eos_fraction", float(ended.float().mean()))
        if missing_eos_penalty is not None:
            scores = scores - missing_eos_penalty * (~ended).float()
        return scores.tolist()

    return reward_model_score


def _rloo_log(out: Path, progress: Progress, per_step: int, batch_size: int, report: bool):
    """A TrainerCallback (made here: transformers' trainer modules are imported only for --algo rloo)."""
    from transformers import TrainerCallback

    class RLOOLog(TrainerCallback):
        """TRL's log of each rollout batch -> a metrics.jsonl line with PPO's names, and our Progress events."""

        def __init__(self, out: Path, progress: Progress, per_step: int, batch_size: int, report: bool):
            self.out, self.progress, self.per_step = out, progress, per_step
            self.batch_size, self.report = batch_size, report
            self.last: dict = {}
            self.first_score: float | None = None
            self._since = time.monotonic()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "reward" not in logs:
                return
            step = state.global_step // self.per_step
            length = logs.get("completions/mean_length")
            kl = logs.get("kl")  # TRL: the mean over response tokens; ours: the sum over a response, averaged
            row = {
                "step": step,
                "episodes": step * self.batch_size,
                "score": logs.get("score"),
                "reward": logs.get("reward"),
                "kl": kl * length if kl is not None and length is not None else None,
                "entropy": logs.get("entropy"),
                "response_length": length,
                "eos_fraction": logs.get("eos_fraction"),
                "policy_loss": logs.get("loss"),
                "value_loss": None,  # RLOO has no value model
                "clip_fraction": logs.get("clip_ratio/region_mean"),
                "value_clip_fraction": None,
                "approx_kl": None,
                "kl_coef": args.beta,
                "learning_rate": logs.get("learning_rate"),
                "seconds": round(time.monotonic() - self._since, 4),
            }
            self._since = time.monotonic()
            self.first_score = row["score"] if self.first_score is None else self.first_score
            self.last = row
            if self.report:
                append_jsonl(self.out / "metrics.jsonl", row)
            fields = {key: row[key] for key in ("score", "kl", "entropy", "clip_fraction", "learning_rate")}
            self.progress.step(step, **fields)

        def on_save(self, args, state, control, **kwargs):
            step = state.global_step // self.per_step
            self.progress.emit("checkpoint", step=step, path=f"{args.output_dir}/checkpoint-{state.global_step}")

    return RLOOLog(out, progress, per_step, batch_size, report)


def _rloo_trainer_class(max_prompt_length: int):
    """TRL's RLOOTrainer, its prompts cut to their last max_prompt_length tokens as our PPO loop cuts them
    (rollout.prompt_token_ids). TRL 1.16's RLOOConfig has no prompt-length setting (it tokenises every prompt
    whole), so the cut goes where it tokenises them; tests/test_ppo.py checks the hook is still there."""
    import trl

    class RLOOTrainer(trl.RLOOTrainer):
        def _tokenize_prompts(self, prompts: list):
            prompt_ids, images, multimodal_fields = super()._tokenize_prompts(prompts)
            return [ids[-max_prompt_length:] for ids in prompt_ids], images, multimodal_fields

    return RLOOTrainer


def train_rloo(
    cfg: PPOConfig,
    prompts: list[Prompt],
    policy: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    reward_model: PreTrainedModel,
    reward_tokenizer: PreTrainedTokenizerBase,
    normalise: dict,
    report: bool,
) -> dict:
    """TRL's RLOOTrainer with our reward function; returns the metrics of the run for metrics.json."""
    import datasets
    import trl

    if cfg.events or not sys.stderr.isatty():
        datasets.disable_progress_bars()
    out = Path(cfg.out)
    stop_ids = policy_stop_ids(policy, tokenizer)
    # A model with a chat template gets conversational rows, which TRL renders with the template.
    if tokenizer.chat_template:
        rows = [{"prompt": [{"role": "user", "content": p}] if isinstance(p, str) else p} for p in prompts]
    else:
        rows = [{"prompt": render(tokenizer, p, "")[0]} for p in prompts]
    per_step = cfg.batch_size // cfg.mini_batch_size * cfg.ppo_epochs  # TRL's optimiser steps per rollout batch
    args = trl.RLOOConfig(
        **{
            **trl_arguments(out, seed=cfg.seed, save_steps=cfg.save_steps * per_step, logging_steps=per_step),
            "disable_tqdm": cfg.events or not report or not sys.stderr.isatty(),  # on a terminal, TRL's own bar
        },
        max_steps=cfg.steps * per_step,
        per_device_train_batch_size=cfg.mini_batch_size,
        generation_batch_size=cfg.batch_size,
        num_generations=cfg.rloo_generations,
        num_iterations=cfg.ppo_epochs,
        max_completion_length=cfg.response_length,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        top_k=0,
        beta=cfg.kl_coef,
        epsilon=cfg.clip_range,
        learning_rate=cfg.learning_rate,
        weight_decay=0.0,
        max_grad_norm=cfg.max_grad_norm,
        disable_dropout=True,
    )
    peft_config = lora_config(cfg.lora_rank, cfg.lora_alpha) if cfg.lora else None
    progress = Progress(cfg.steps, cfg.events, "rloo", enabled=report)
    logger = _rloo_log(out, progress, per_step, cfg.batch_size, report)
    with peft_deprecation_hidden():  # TRL wraps the policy with peft here (peft reads the attribute)
        trainer = _rloo_trainer_class(cfg.max_prompt_length)(
            model=policy,
            reward_funcs=_reward_function(reward_model, reward_tokenizer, normalise, cfg.missing_eos_penalty, stop_ids),
            args=args,
            train_dataset=datasets.Dataset.from_list(rows),
            processing_class=tokenizer,
            callbacks=[logger],
            peft_config=peft_config,
        )
    quiet(trainer)
    reward_model.to(trainer.accelerator.device)  # TRL moves the policy; a reward function's model is ours to move
    resume_from = trl_checkpoint_to_resume(out, cfg.resume)
    resumed_at = 0
    if resume_from:
        resumed_at = int(resume_from.name.split("-")[1]) // per_step
        if report:
            cut_logs(out, resumed_at)
    progress.emit("start", total_steps=cfg.steps, algo="rloo", prompts=len(prompts), resumed_at=resumed_at)
    loop_started = time.monotonic()
    with peft_deprecation_hidden():  # TRL's generation reads the same attribute (trl/models/utils.py)
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_seconds = time.monotonic() - loop_started
    progress.close()

    trained = trainer.accelerator.unwrap_model(trainer.model)
    if report:
        if cfg.lora:
            trained.save_pretrained(out / "adapter")
            trained = trained.merge_and_unload()
        trained.save_pretrained(out)
        tokenizer.save_pretrained(out)
    steps = trainer.state.global_step // per_step
    episodes = (steps - resumed_at) * cfg.batch_size
    return {
        "algo": "rloo",
        "steps": steps,
        "episodes": steps * cfg.batch_size,
        "first_score": logger.first_score,
        "last_score": logger.last.get("score"),
        "last_kl": logger.last.get("kl"),
        "kl_coef": cfg.kl_coef,
        "train_seconds": round(train_seconds, 3),
        "episodes_per_second": round(episodes / train_seconds, 3) if train_seconds > 0 else None,
        "value_init": None,
        "lora": cfg.lora,
    }
