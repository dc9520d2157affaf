"""`labeler-train reward --tune head`: the body stays as it was; a linear head reads the mean of its last layer.

Why: on the HH dev set a strongly regularised linear head on frozen features holds out more than
fine-tuning the whole model, and the mean over the tokens more than the token a classifier reads
(bench/reward_probes.py in BENCHMARKS.md, HH 5-fold: frozen SmolLM2 at layer 20, the mean 0.664 against
the last token 0.647; the fine-tuned MiniLM default 0.612). It is also cheap: one forward pass over each
distinct answer, no backward, then a fit of seconds. `--layers N` keeps the body's first N layers only
(faster, and on HH a middle layer carried more than the last).

The mean over the tokens is not how a transformers sequence classifier reads its score (the last token,
or BERT's pooled [CLS]), so the saved folder says so in its config (`reward_pooling: "mean"`) and
`trainer.models.load_trained_reward_model` wraps it in MeanPooledReward; read by transformers alone it
would score the wrong token. (transformers has no mean-pooling classifier to use instead.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from trainer.data import RankedPrompt
from trainer.events import Progress
from trainer.reward_loss import LossMargins, batch_for_prompts, grouped_loss
from trainer.scoring import SCORE_BATCH, pad

POOLING_KEY = "reward_pooling"  # in a saved reward model's config.json: "mean" for a head-tuned one


def score_head(model: PreTrainedModel) -> nn.Linear:
    """The classifier's last linear layer with one output: `score` (Llama, ...), `classifier` (BERT), `out_proj`."""
    heads = [module for module in model.modules() if isinstance(module, nn.Linear) and module.out_features == 1]
    if not heads:
        raise ValueError(f"{type(model).__name__} has no linear layer with one output to use as a reward head")
    return heads[-1]


def mean_pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """(B, T, H) states, (B, T) mask -> (B, H): each sequence's mean over its tokens, padding left out."""
    mask = attention_mask.to(hidden.dtype)[..., None]  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


class MeanPooledReward(nn.Module):
    """A saved head-tuned classifier read as it was trained: its head applied to the mean of the last layer."""

    def __init__(self, classifier: PreTrainedModel):
        super().__init__()
        self.classifier = classifier
        self.config = classifier.config

    def forward(self, input_ids: Tensor, attention_mask: Tensor, **_) -> SequenceClassifierOutput:
        hidden = self.classifier.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return SequenceClassifierOutput(logits=score_head(self.classifier)(mean_pool(hidden, attention_mask)))

    def save_pretrained(self, folder) -> None:
        self.classifier.save_pretrained(folder)  # its config carries POOLING_KEY: it loads back as this


@torch.no_grad()
def pooled_features(
    model: PreTrainedModel, sequences: Sequence[list[int]], pad_token_id: int, bf16: bool, progress: Progress
) -> Tensor:
    """(N, H) float32: the mean of the body's last layer over each sequence's tokens, shortest first in batches."""
    model.eval()
    order = sorted(range(len(sequences)), key=lambda index: len(sequences[index]))
    features = torch.empty(len(sequences), model.config.hidden_size, dtype=torch.float32)
    for number, start in enumerate(range(0, len(order), SCORE_BATCH), start=1):
        chunk = order[start : start + SCORE_BATCH]
        input_ids, attention_mask = pad([sequences[index] for index in chunk], pad_token_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        features[chunk] = mean_pool(hidden.float(), attention_mask)  # (b, H)
        progress.step(number, answers=min(start + SCORE_BATCH, len(order)))
    return features


def fit_head(
    features: Tensor, items: Sequence[RankedPrompt], margins: LossMargins, weighting: str, l2: float
) -> tuple[Tensor, float, float, int]:
    """(weight (H,), bias, data loss, L-BFGS iterations) of a linear reward on `features`, one row per answer of
    `items` in batch_for_prompts' order, minimising the trainer's grouped loss plus l2 × |w|² on standardised
    features; the standardisation is folded back into the weight and bias so they read the raw features."""
    _, _, pair_index, pair_margins, group_of_pair = batch_for_prompts(items, margins)
    mean, std = features.mean(0), features.std(0).clamp(min=1e-6)  # (H,), (H,)
    x = ((features - mean) / std).double()  # (N, H): double, so L-BFGS converges to the same head every time
    weight = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weight], max_iter=500, tolerance_grad=1e-9, line_search_fn="strong_wolfe")

    def data_loss() -> Tensor:
        return grouped_loss(x @ weight, pair_index, pair_margins.double(), group_of_pair, len(items), weighting)

    def closure() -> Tensor:
        optimiser.zero_grad()
        loss = data_loss() + l2 * weight.square().sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    iterations = optimiser.state[weight]["n_iter"]
    with torch.no_grad():
        scaled = weight / std.double()  # w · (f − μ) / σ = (w / σ) · f − (w / σ) · μ
        return scaled.float(), float(-(scaled * mean.double()).sum()), float(data_loss()), int(iterations)


def install_head(model: PreTrainedModel, weight: Tensor, bias: float) -> MeanPooledReward:
    """Put the fitted head into the classifier and mark its config, so it saves and loads as trained.

    A head without a bias (Llama's `score`) leaves out the constant: rewards shift, their differences do not."""
    head = score_head(model)
    with torch.no_grad():
        head.weight.copy_(weight[None, :])
        if head.bias is not None:
            head.bias.fill_(bias)
    setattr(model.config, POOLING_KEY, "mean")
    return MeanPooledReward(model)
