"""PPO's --judge: at each checkpoint, the policy's win rate against where it started, as a second reward model sees it.

The reward model PPO trains against can be fooled: its score keeps climbing while the answers get worse
(over-optimisation). A reward model the loop never reads is not fooled by the same tricks, so its verdict of the
policy against the starting policy, on held-out prompts, rises while the policy really improves and turns down
when it starts exploiting its own reward model. Sampling, scoring and the arithmetic are `labeler-train
compare`'s; the figures go into that step's metrics.jsonl row as judge_win_rate, judge_win_low, judge_win_high.

The starting policy's answers are sampled once; each check samples the current policy with the same seed.
Only the main process judges, in a forked random state, so the run trains exactly as it would without a judge.
"""

from __future__ import annotations

import random
from contextlib import nullcontext
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from trainer.compare import answers_of, judged_scores
from trainer.configs import PPOConfig
from trainer.data import read_prompts
from trainer.errors import TrainerError
from trainer.generate import check_chat_template
from trainer.judging import win_rate
from trainer.models import load_trained_reward_model, resolve_model_folder
from trainer.ppo_models import reward_normalisation

JUDGE_BATCH = 8  # prompts sampled at once


def check_judge_options(cfg: PPOConfig) -> None:
    """Refuse --judge options that cannot work before the run writes anything."""
    if cfg.judge is None:
        if cfg.judge_prompts is not None:
            raise TrainerError("--judge-prompts is for --judge RM")
        return
    if cfg.algo != "ppo":
        raise TrainerError("--judge is for --algo ppo (TRL's RLOO runs its own loop)")
    if cfg.judge_prompts is None:
        raise TrainerError("--judge needs --judge-prompts FILE: held-out prompts, ones PPO does not train on")
    if cfg.judge_prompt_count < 1:
        raise TrainerError("--judge-prompt-count must be at least 1")
    if not Path(cfg.judge_prompts).is_file():
        raise TrainerError(f"{cfg.judge_prompts}: no such file")
    resolve_model_folder(cfg.judge)


class PolicyJudge:
    """Called at the steps `due` says with the policy and its reference; returns the judge's figures for the row."""

    def __init__(self, cfg: PPOConfig, tokenizer: PreTrainedTokenizerBase, device) -> None:
        check_chat_template(tokenizer, Path(cfg.policy))
        self.cfg, self.tokenizer = cfg, tokenizer
        self.model, self.model_tokenizer = load_trained_reward_model(Path(cfg.judge))
        self.model.eval().requires_grad_(False).to(device)
        self.max_length = reward_normalisation(Path(cfg.judge))["max_length"]  # as the judge was trained
        prompts = read_prompts(Path(cfg.judge_prompts))
        self.prompts = random.Random(cfg.seed).sample(prompts, min(cfg.judge_prompt_count, len(prompts)))
        self.reference_answers: list[str] | None = None

    def due(self, step: int) -> bool:
        """At every checkpoint, and at the end (the policy that is saved)."""
        return step == self.cfg.steps or bool(self.cfg.save_steps and step % self.cfg.save_steps == 0)

    def __call__(self, policy: PreTrainedModel, reference: PreTrainedModel | None) -> dict[str, float]:
        """reference None: the policy's LoRA adapters switched off (--lora) are the reference."""
        if self.reference_answers is None:
            with policy.disable_adapter() if reference is None else nullcontext():
                self.reference_answers = self._answers(reference or policy)
        # Scored together with the policy's answers each time: an answer the policy still gives word for word
        # then gets the very same score, a tie.
        scores_reference, scores_policy = judged_scores(
            self.model, self.model_tokenizer, self.prompts, self.reference_answers, self._answers(policy),
            self.max_length,
        )  # fmt: skip
        verdict = win_rate(scores_reference, scores_policy)
        return {"judge_win_rate": verdict.rate, "judge_win_low": verdict.low, "judge_win_high": verdict.high}

    def _answers(self, model: PreTrainedModel) -> list[str]:
        cfg = self.cfg
        return answers_of(
            model, self.tokenizer, self.prompts, temperature=cfg.temperature, top_p=cfg.top_p,
            max_new_tokens=cfg.response_length, seed=cfg.seed, batch_size=JUDGE_BATCH,
        )  # fmt: skip
