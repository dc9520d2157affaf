"""`labeler-train compare`: did policy B improve on policy A, as a reward model neither was tuned on judges it?

    compare(cfg) reads top to bottom:
      1 prompts   a prompts file (any format `labeler import` reads) or a project file's prompts, each once
      2 judge     the reward model, loaded first (and both policy folders found) so a wrong folder is
                  refused before minutes of sampling
      3 sample    one answer per prompt from each policy, batched, with the same settings and the same seed
                  (both draw the same random numbers, so two identical policies give identical answers)
      4 score     every distinct (prompt, answer) scored once by the judge
      5 verdict   B's win rate against A (a tie half a win) with its 95% interval, each policy's mean score

No KL of B from A: it would need both policies to share a tokenizer and a forward pass of each over B's
answers at the sampling temperature, and top-p sampling draws from a truncated distribution that the full
softmax does not describe. PPO's metrics.jsonl has the KL to its starting policy, measured where it is exact.

Shared with PPO's --judge (ppo_judge.py): `answers_of` and `judged_scores`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers.utils import logging as hf_logging

from trainer.configs import CompareConfig
from trainer.data import read_prompts
from trainer.encoding import Prompt
from trainer.errors import TrainerError
from trainer.generate import check_chat_template, sample_answers
from trainer.judging import win_rate
from trainer.models import load_policy, load_trained_reward_model, resolve_model_folder
from trainer.scoring import score_texts


def compare(cfg: CompareConfig) -> dict:
    """The verdict as a JSON object; with cfg.out, each prompt's answers and scores written there too."""
    if cfg.temperature <= 0 or not 0 < cfg.top_p <= 1 or cfg.max_new_tokens < 1 or cfg.batch_size < 1:
        raise TrainerError("--temperature > 0, 0 < --top-p ≤ 1, --max-new-tokens ≥ 1 and --batch-size ≥ 1, please")
    if not sys.stderr.isatty():
        hf_logging.disable_progress_bar()  # "Loading weights" bars would litter a log or a captured stderr
    prompts = read_prompts(cfg.prompts)  # 1
    judge, judge_tokenizer = load_trained_reward_model(cfg.judge)  # 2
    for policy in (cfg.policy_a, cfg.policy_b):
        resolve_model_folder(policy)  # a missing folder is refused now, not after sampling the other policy
    answers = []
    for policy in (cfg.policy_a, cfg.policy_b):  # 3, one policy in memory at a time
        model, tokenizer, folder = load_policy(policy)
        check_chat_template(tokenizer, folder)
        answers.append(
            answers_of(
                model.eval(),
                tokenizer,
                prompts,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                max_new_tokens=cfg.max_new_tokens,
                seed=cfg.seed,
                batch_size=cfg.batch_size,
            )
        )
        del model
    scores_a, scores_b = judged_scores(judge, judge_tokenizer, prompts, *answers, cfg.max_length)  # 4
    verdict = win_rate(scores_a, scores_b)  # 5
    if cfg.out is not None:
        _write_answers(Path(cfg.out), prompts, *answers, scores_a, scores_b)
    return {
        "policy_a": str(cfg.policy_a),
        "policy_b": str(cfg.policy_b),
        "judge": str(cfg.judge),
        "prompts": verdict.prompts,
        "wins": verdict.wins,
        "ties": verdict.ties,
        "losses": verdict.losses,
        "win_rate": verdict.rate,
        "win_low": verdict.low,
        "win_high": verdict.high,
        "mean_score_a": sum(scores_a) / len(scores_a),
        "mean_score_b": sum(scores_b) / len(scores_b),
    }


def answers_of(
    model,
    tokenizer,
    prompts: Sequence[Prompt],
    *,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    batch_size: int,
) -> list[str]:
    """One sampled answer per prompt (outer whitespace removed, as `generate` stores answers), batch by batch.

    Seeded inside a forked random state: two policies sampled with one seed draw the same random numbers (a
    fairer duel: the difference comes from the policies, not the draw), and the caller's random stream is left
    as it was (PPO's rollouts are the same with or without a judge).
    """
    answers = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for start in range(0, len(prompts), batch_size):
            batch = list(prompts[start : start + batch_size])
            sampled = sample_answers(
                model, tokenizer, batch, k=1, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens
            )
            answers += [texts[0].strip() for texts in sampled]
    return answers


def judged_scores(
    judge, judge_tokenizer, prompts: Sequence[Prompt], answers_a: list[str], answers_b: list[str], max_length: int
) -> tuple[list[float], list[float]]:
    """The judge's score of each prompt's two answers. Each distinct (prompt, answer) is scored once, so two
    identical answers get the very same score (a tie), whatever batch and padding they would have met."""
    index_of: dict[tuple[str, str], int] = {}
    unique_prompts, unique_answers = [], []
    for prompt, answer in zip([*prompts, *prompts], [*answers_a, *answers_b], strict=True):
        key = (json.dumps(prompt, sort_keys=True), answer)
        if key not in index_of:
            index_of[key] = len(unique_answers)
            unique_prompts.append(prompt)
            unique_answers.append(answer)
    scores = score_texts(judge, judge_tokenizer, unique_prompts, unique_answers, max_length).tolist()

    def of(answers: list[str]) -> list[float]:
        return [scores[index_of[(json.dumps(p, sort_keys=True), a)]] for p, a in zip(prompts, answers, strict=True)]

    return of(answers_a), of(answers_b)


def _write_answers(path: Path, prompts, answers_a, answers_b, scores_a, scores_b) -> None:
    rows = zip(prompts, answers_a, answers_b, scores_a, scores_b, strict=True)
    with path.open("w", encoding="utf-8") as file:
        for prompt, answer_a, answer_b, score_a, score_b in rows:
            winner = "b" if score_b > score_a else "a" if score_a > score_b else "tie"
            row = {"prompt": prompt, "answer_a": answer_a, "answer_b": answer_b}
            row.update(score_a=score_a, score_b=score_b, winner=winner)
            file.write(json.dumps(row, ensure_ascii=False) + "\n")
