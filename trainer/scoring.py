"""Using a reward model: scores for token ids or for (prompt, answer) texts, and its accuracy on pairs.

Shared by the reward trainer (its evaluation and the reward statistics PPO normalises with),
`labeler-train eval-reward` and `labeler-train score`, so a model is scored the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from trainer.encoding import Prompt, encode

SCORE_BATCH = 32  # sequences per forward pass when only scoring


@torch.no_grad()
def score_ids(model: PreTrainedModel, sequences: Sequence[list[int]], pad_token_id: int) -> torch.Tensor:
    """The reward of each token-id sequence, (N,) float32 on the CPU, in the order given.

    Sequences are scored shortest first so each batch pads little, then put back in order. The model
    is in eval mode meanwhile (no dropout) and goes back to the mode it was in.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(sequences)), key=lambda index: len(sequences[index]))
    scores = torch.empty(len(sequences), dtype=torch.float32)
    try:
        for start in range(0, len(order), SCORE_BATCH):
            chunk = order[start : start + SCORE_BATCH]
            input_ids, attention_mask = pad([sequences[index] for index in chunk], pad_token_id)
            logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
            scores[chunk] = logits[:, 0].float().cpu()  # (b,)
    finally:
        model.train(was_training)
    return scores


def pad(sequences: Sequence[list[int]], pad_token_id: int, *, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (N, longest), padded on the right as TRL's reward collator pads (a
    causal model reads its score at the last token that is not padding), or on the left for `generate`,
    which continues each row from its last token."""
    longest = max(map(len, sequences))
    input_ids = torch.full((len(sequences), longest), pad_token_id, dtype=torch.long)  # (N, T)
    attention_mask = torch.zeros((len(sequences), longest), dtype=torch.long)  # (N, T)
    for row, sequence in enumerate(sequences):
        columns = slice(longest - len(sequence), longest) if left else slice(0, len(sequence))
        input_ids[row, columns] = torch.tensor(sequence, dtype=torch.long)
        attention_mask[row, columns] = 1
    return input_ids, attention_mask


def score_texts(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Prompt],
    answers: Sequence[str],
    max_length: int,
) -> torch.Tensor:
    """The reward of each (prompts[i], answers[i]), (N,)."""
    if not answers:
        return torch.empty(0)
    encoded = encode(tokenizer, prompts, answers, max_length)
    return score_ids(model, encoded.input_ids, tokenizer.pad_token_id)


@dataclass(frozen=True)
class PairAccuracy:
    correct: int  # pairs with r_chosen > r_rejected (a tie counts as wrong)
    pairs: int
    margin_sum: float  # the sum of r_chosen − r_rejected over the pairs

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.pairs if self.pairs else None

    @property
    def mean_margin(self) -> float | None:
        return self.margin_sum / self.pairs if self.pairs else None


def pair_accuracy_of(chosen: torch.Tensor, rejected: torch.Tensor) -> PairAccuracy:
    """Counts over pairs given the rewards of their chosen and rejected answers, (P,) each."""
    differences = (chosen - rejected).double()  # (P,)
    return PairAccuracy(int((differences > 0).sum()), len(differences), float(differences.sum()))


def longer_wins(pairs: Sequence[tuple[str, str]]) -> float:
    """The share of (chosen, rejected) pairs whose chosen answer is the longer one (in characters; a tie ½)."""
    wins = sum(1.0 if len(c) > len(r) else 0.5 if len(c) == len(r) else 0.0 for c, r in pairs)
    return wins / len(pairs)


def first_shown_wins(chosen_shown_first: Sequence[bool | None]) -> float | None:
    """The share of pairs whose chosen answer was shown first; None unless every pair knows its order."""
    if not chosen_shown_first or any(first is None for first in chosen_shown_first):
        return None
    return sum(chosen_shown_first) / len(chosen_shown_first)
