"""Frozen-feature reward heads for the benches: features of every HH answer once, then linear heads in seconds.

A fine-tuned reward model takes minutes a fold; a linear Bradley–Terry head on features computed once
takes seconds, so settings (a margin rule, a layer, a pooling) can be compared over many folds and
repeats. The head is fitted with the trainer's own loss and margin code (`trainer.reward_loss`) to
rankings whose answers name feature rows, so what is measured is the trainer's rule, on a cheaper model.
Used by reward_margins.py and reward_probes.py.
"""

from __future__ import annotations

import math
import statistics

import torch

from trainer.data import RankedPrompt, pairs_of, split_into_folds
from trainer.encoding import encode
from trainer.models import load_reward_model
from trainer.reward_head import mean_pool
from trainer.reward_loss import LossMargins, batch_for_prompts, grouped_loss
from trainer.scoring import pad

POOLINGS = ("mean", "first", "last")  # over the tokens; first is BERT's [CLS], last what a causal score head reads


def hidden_features(
    rankings: list[RankedPrompt], base: str, layers: list[int], max_length: int = 512, bf16: bool = False
) -> tuple[dict[tuple[int, str], torch.Tensor], dict[tuple[int, int], int]]:
    """({(layer, pooling): (N, H) standardised features}, {(ranking number, answer index): row}) of the frozen
    `base` for every (prompt, answer), read as the reward trainer reads them (trainer.encoding.encode).
    Layer 0 is the embeddings, layer L the model's L-th (the last one after its final norm, if any); -1 the last."""
    model, tokenizer, _ = load_reward_model(base)
    backbone = model.base_model.eval()
    prompts, answers, row_of = [], [], {}
    for number, item in enumerate(rankings):
        for index, answer in enumerate(item.answers):
            row_of[number, index] = len(answers)
            prompts.append(item.prompt)
            answers.append(answer)
    ids = encode(tokenizer, prompts, answers, max_length).input_ids
    order = sorted(range(len(ids)), key=lambda row: len(ids[row]))  # batches of similar length pad little
    features = {
        (layer, pooling): torch.zeros(len(ids), backbone.config.hidden_size) for layer in layers for pooling in POOLINGS
    }
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(order), 16):
            rows = order[start : start + 16]
            input_ids, mask = pad([ids[row] for row in rows], tokenizer.pad_token_id)  # (B, T) each
            lengths = mask.sum(1)  # (B,)
            hidden = backbone(input_ids=input_ids, attention_mask=mask, output_hidden_states=True).hidden_states
            for layer in layers:
                states = hidden[layer].float()  # (B, T, H)
                features[layer, "mean"][rows] = mean_pool(states, mask)  # as `--tune head` pools
                features[layer, "first"][rows] = states[:, 0]
                features[layer, "last"][rows] = states[torch.arange(len(rows)), lengths - 1]
    return {key: standardise(value) for key, value in features.items()}, row_of


def standardise(features: torch.Tensor) -> torch.Tensor:
    """Each column to mean 0 and standard deviation 1, so one L2 strength suits every layer and model."""
    return (features - features.mean(0)) / features.std(0).clamp(min=1e-6)


def judged(rows: list[int], prompt_id: int, order: list[int], strengths: list[int | None]) -> RankedPrompt:
    """A ranking of feature rows, best first, one answer per tier; its answers are the rows as text."""
    return RankedPrompt(prompt_id, "", [str(row) for row in rows], [[i] for i in order], strengths, "sim")


def real_items(rankings: list[RankedPrompt], row_of: dict, stated: int | None = None) -> list[RankedPrompt]:
    """The rankings as the people judged them (one answer per tier), with `stated` as every step's strength."""
    return [
        judged([row_of[n, i] for i in range(len(item.answers))], item.prompt_id,
               [tier[0] for tier in item.tiers], [stated] * (len(item.tiers) - 1))
        for n, item in enumerate(rankings)
    ]  # fmt: skip


def fit_head(features: torch.Tensor, items: list[RankedPrompt], margins: LossMargins, l2: float) -> torch.Tensor:
    """A linear reward head fitted by L-BFGS to `items` with the trainer's grouped loss, plus l2 × |w|²."""
    rows, _, pair_index, pair_margins, group_of_pair = batch_for_prompts(items, margins)
    x = features[[int(row) for row in rows]]  # (N, H)
    weights = torch.zeros(features.shape[1], requires_grad=True)
    optimiser = torch.optim.LBFGS([weights], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = grouped_loss(x @ weights, pair_index, pair_margins, group_of_pair, len(items))
        loss = loss + l2 * weights.square().sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return weights.detach()


def accuracy(scores: torch.Tensor, items: list[RankedPrompt]) -> float:
    """Share of the items' pairs whose chosen answer (a feature row) scores above the rejected one."""
    right = total = 0
    for item in items:
        for chosen, rejected, _ in pairs_of(item):
            right += bool(scores[int(item.answers[chosen])] > scores[int(item.answers[rejected])])
            total += 1
    return right / total


def cross_validate(
    features: torch.Tensor,
    items: list[RankedPrompt],
    margins: LossMargins,
    l2: float,
    folds: int,
    seed: int,
    truth_items: list[RankedPrompt] | None = None,
) -> tuple[list[float], list[float]]:
    """Held-out accuracy per fold on the items' own labels, and on `truth_items` (same prompts) if given."""
    own, true = [], []
    for fold in range(1, folds + 1):
        train, held_out = split_into_folds(items, folds, fold, seed)
        scores = features @ fit_head(features, train, margins, l2)
        own.append(accuracy(scores, held_out))
        if truth_items is not None:
            true.append(accuracy(scores, split_into_folds(truth_items, folds, fold, seed)[1]))
    return own, true


def summary(values: list[float]) -> str:
    """Mean ± the standard error of the mean."""
    error = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {error:.3f}"
