"""The reward model's loss and accuracy over rankings, as pure torch functions.

For one preference (chosen c over rejected r by margin m) the loss is -log σ(r_c − r_r − m), the
Bradley–Terry likelihood with TRL's margin. The margin is 0 unless asked for (LossMargins): then it
is a scale times the margin the annotators stated, and still 0 where they stated none, so no pair is
asked to be several logits apart because of a default nobody chose. Two ways to average the loss
over a batch:

  - per pair (`pairwise_loss`, TRL's RewardTrainer): every pair weighs the same, so a prompt ranked
    over K = 9 answers (36 pairs) counts 36 times as much as one with K = 2 (1 pair), and its pairs,
    which share answers, pull the same way;
  - per prompt (`grouped_loss`, InstructGPT §3.5): each prompt's K answers are forwarded once and all
    of its pairs averaged into one term, then the terms averaged over prompts: "one prompt, one batch
    element". InstructGPT found that shuffling a ranking's pairs into separate batch elements made the
    reward model overfit within one epoch (each answer takes part in K − 1 separate updates), and forwarding K
    answers for K(K−1)/2 pairs is far cheaper than forwarding two per pair.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional as F

from trainer.data import RankedPrompt, pairs_of


@dataclass(frozen=True)
class LossMargins:
    """The margin the loss subtracts from r_chosen − r_rejected, from a pair's stated margin."""

    mode: Literal["none", "scaled"] = "none"  # none: 0 for every pair; scaled: scale × the stated margin
    scale: float = 1.0  # logits per unit of stated margin (scaled only); a pair with none stated gets 0

    def __post_init__(self) -> None:
        if self.mode not in ("none", "scaled"):
            raise ValueError(f"margin is 'none' or 'scaled', got {self.mode!r}")
        if not 0 < self.scale < math.inf:
            raise ValueError(f"the margin scale must be a positive number, got {self.scale}")

    def of(self, stated_margin: int | None) -> float:
        if self.mode == "none" or stated_margin is None:
            return 0.0
        return self.scale * stated_margin


def pairwise_loss(chosen_rewards: Tensor, rejected_rewards: Tensor, margins: Tensor | None = None) -> Tensor:
    """Mean over pairs of -log σ(r_c − r_r − m); without margins, m = 0.

    Exactly TRL 1.16's RewardTrainer.compute_loss (trl/trainer/reward_trainer.py, lines 789-792):
        loss = -nn.functional.logsigmoid(rewards_chosen - rewards_rejected - inputs["margin"]).mean()
    logsigmoid is the numerically stable form of log σ (no overflow for large differences).
    """
    differences = chosen_rewards - rejected_rewards  # (P,)
    if margins is not None:
        differences = differences - margins  # (P,)
    return -F.logsigmoid(differences).mean()  # ()


def grouped_loss(
    rewards: Tensor,
    pair_index: Tensor,
    margins: Tensor,
    group_of_pair: Tensor,
    groups: int,
    weighting: Literal["prompt", "pair"] = "prompt",
) -> Tensor:
    """The loss of a batch of rankings whose answers were each scored once (see the module docstring).

    rewards (N,): the reward of every answer of every prompt in the batch, flattened;
    pair_index (P, 2): (chosen, rejected) positions in `rewards`; margins (P,);
    group_of_pair (P,): which of the `groups` rankings (0 .. groups - 1) each pair belongs to; a
    "prompt" below is one ranking, so a prompt ranked by two annotators counts twice.

    weighting="prompt": the mean over prompts of each prompt's mean over its pairs (a prompt with
    ties has fewer than K(K−1)/2 pairs; its mean is over the pairs it has). A group without pairs is
    left out of the mean over prompts. weighting="pair": the mean over all pairs, pairwise_loss on
    the same pairs.
    """
    if weighting not in ("prompt", "pair"):
        raise ValueError(f"weighting is 'prompt' or 'pair', got {weighting!r}")
    chosen = rewards[pair_index[:, 0]]  # (P,)
    rejected = rewards[pair_index[:, 1]]  # (P,)
    if weighting == "pair":
        return pairwise_loss(chosen, rejected, margins)  # ()
    per_pair = -F.logsigmoid(chosen - rejected - margins)  # (P,)
    sums = per_pair.new_zeros(groups).index_add(0, group_of_pair, per_pair)  # (G,)
    counts = torch.bincount(group_of_pair, minlength=groups).to(per_pair.dtype)  # (G,)
    per_prompt = sums / counts.clamp(min=1)  # (G,)
    return per_prompt.sum() / (counts > 0).sum()  # ()


def pair_accuracy(rewards: Tensor, pair_index: Tensor) -> tuple[int, int]:
    """(correct, total) over the pairs: correct when r_chosen > r_rejected; the margin plays no part.

    A tie (r_c == r_r) counts as wrong, as in TRL's accuracy: a model that scores everything alike
    has learnt nothing. Counts, not a rate, so an eval accuracy is the sum of correct over the sum of
    totals of every batch (each pair weighs the same), never a mean of batch means.
    """
    correct = rewards[pair_index[:, 0]] > rewards[pair_index[:, 1]]  # (P,) bool, no graph
    return int(correct.sum()), len(pair_index)


def batch_for_prompts(
    items: Sequence[RankedPrompt], margins: LossMargins = LossMargins()
) -> tuple[list[str], list[str | list[dict]], Tensor, Tensor, Tensor]:
    """Flatten rankings into what grouped_loss needs: (answer_texts, prompts, pair_index, margins, group_of_pair).

    answer_texts (N,): every item's answers in turn, so item g's answers occupy one contiguous slice;
    prompts (N,): each answer's prompt, aligned with answer_texts, ready to tokenise as pairs;
    pair_index (P, 2) long: (chosen, rejected) positions in answer_texts; margins (P,) float32, as
    `margins` makes them from the stated margins (0 for every pair unless asked);
    group_of_pair (P,) long: the position in `items` of each pair's ranking (groups = len(items)).
    An item is one annotator's ranking, so a prompt ranked by two annotators is two groups.
    """
    answer_texts: list[str] = []
    prompts: list[str | list[dict]] = []
    pairs: list[tuple[int, int]] = []
    pair_margins: list[float] = []
    groups: list[int] = []
    for group, item in enumerate(items):
        offset = len(answer_texts)
        answer_texts.extend(item.answers)
        prompts.extend([item.prompt] * len(item.answers))
        for chosen, rejected, stated_margin in pairs_of(item):
            pairs.append((offset + chosen, offset + rejected))
            pair_margins.append(margins.of(stated_margin))
            groups.append(group)
    return (
        answer_texts,
        prompts,
        torch.tensor(pairs, dtype=torch.long).reshape(-1, 2),  # (P, 2)
        torch.tensor(pair_margins, dtype=torch.float32),  # (P,)
        torch.tensor(groups, dtype=torch.long),  # (P,)
    )
