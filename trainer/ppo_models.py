"""The models the PPO loop holds: policy and value model as one module, where the value model starts, the
reference's logits, dropout switched off, and how the reward model's scores are normalised.

Shapes: b responses in a minibatch, P prompt tokens (left-padded), T response tokens, V the vocabulary, H the
hidden size.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor, nn
from transformers import AutoModelForSequenceClassification, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from trainer.errors import TrainerError
from trainer.models import load_tokenizer, resolve_model_folder


def reward_normalisation(folder: Path) -> dict:
    """{"mean", "std"} saved by `labeler-train reward`; mean 0 and std 1 (no change) for a folder without them."""
    metrics_file = resolve_model_folder(folder) / "metrics.json"
    if metrics_file.is_file():
        saved = json.loads(metrics_file.read_text())
        mean, std = saved.get("reward_mean"), saved.get("reward_std")
        if isinstance(mean, int | float) and isinstance(std, int | float) and std > 0:
            return {
                "mean": float(mean),
                "std": float(std),
                "max_length": int(saved.get("config", {}).get("max_length", 512)),
            }
    return {"mean": 0.0, "std": 1.0, "max_length": 512}


def disable_dropout(model: nn.Module) -> None:
    """Dropout off everywhere: the log-probabilities of a rollout and of the epochs must come from one function."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    config = getattr(model, "config", None)
    for name in ("attention_dropout", "hidden_dropout", "attention_probs_dropout_prob", "hidden_dropout_prob"):
        if config is not None and isinstance(getattr(config, name, None), float):
            setattr(config, name, 0.0)


def _is_causal(model: PreTrainedModel, vocabulary: int) -> bool:
    """Whether each position's hidden state depends only on the tokens up to it (changing the last token
    leaves the earlier ones alone). A value must not see the tokens that come after its state."""
    ids = torch.arange(6).unsqueeze(0) % vocabulary  # (1, 6)
    changed = ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % vocabulary
    with torch.no_grad():
        first = model.base_model(input_ids=ids).last_hidden_state[:, :-1]  # (1, 5, H)
        second = model.base_model(input_ids=changed).last_hidden_state[:, :-1]  # (1, 5, H)
    return torch.allclose(first, second, atol=1e-5)


def _value_classifier(folder: Path, layers: int, **options) -> PreTrainedModel:
    """The sequence classifier in `folder` with only its first `layers` layers (0: all; fewer than asked for
    when it has fewer); the layers left out are never read.

    A score head fitted to the last layer reads an earlier layer's states as noise, and the clipped value loss
    lets a value move only --clip-range-value per rollout: a head that started far off would stay off for many
    steps. So when layers were left out the head starts at 0, the mean of the normalised scores it learns."""
    depth = json.loads((Path(folder) / "config.json").read_text()).get("num_hidden_layers")
    cut = bool(layers) and isinstance(depth, int) and layers < depth
    if layers and not isinstance(depth, int):
        raise TrainerError(f"{folder}: --value-layers {layers}: its config does not count its layers")
    if cut:
        options["num_hidden_layers"] = layers
    model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32, **options)
    head = getattr(model, "score", None)
    if cut and isinstance(head, nn.Linear):
        with torch.no_grad():
            head.weight.zero_()
            if head.bias is not None:
                head.bias.zero_()
    return model


def starting_value_model(
    reward_folder: Path,
    reward_tokenizer: PreTrainedTokenizerBase,
    policy_folder: Path,
    tokenizer: PreTrainedTokenizerBase,
    layers: int = 0,
) -> tuple[PreTrainedModel, str]:
    """A sequence classifier used token by token as the value model, and where it started ("reward"/"policy"),
    with only its first `layers` transformer layers when that is not 0.

    It reads the policy's tokens, one value per position, so it must share the policy's vocabulary and be
    causal. The reward model, when it is both, is the better start (it already knows what scores well);
    otherwise (a BERT-style reward model such as minilm, or another tokenizer) the policy's own body with a
    new score head.
    """
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a policy read as a classifier reports its new head: that is the point
    try:
        reward_folder = resolve_model_folder(reward_folder)
        model = _value_classifier(reward_folder, layers)
        if (
            reward_tokenizer.get_vocab() == tokenizer.get_vocab()
            and isinstance(getattr(model, "score", None), nn.Linear)
            and _is_causal(model, len(tokenizer))
        ):
            return model, "reward"
        model = _value_classifier(policy_folder, layers, num_labels=1)
    finally:
        hf_logging.set_verbosity(verbosity)
    if not isinstance(getattr(model, "score", None), nn.Linear):
        raise TrainerError(f"{policy_folder}: its sequence-classifier form has no `score` head to use as a value head")
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, "policy"


VALUE_MODEL = "value_model"  # the subfolder of a PPO run's output (and of nothing else) that holds its value model


def value_model_folder(given: Path) -> Path:
    """The value model folder --value-model names: the folder itself, or the value_model/ inside a PPO run's."""
    given = Path(given)
    folder = given / VALUE_MODEL if (given / VALUE_MODEL).is_dir() else given
    if not (folder / "config.json").is_file():
        raise TrainerError(f"{given}: no value model here (a PPO run's folder with value_model/, or that folder)")
    architectures = json.loads((folder / "config.json").read_text()).get("architectures") or []
    if not any(name.endswith("ForSequenceClassification") for name in architectures):
        raise TrainerError(f"{folder}: not a value model (a sequence classifier, as a PPO run saves in value_model/)")
    return folder


def saved_value_model(given: Path, tokenizer: PreTrainedTokenizerBase, layers: int = 0) -> PreTrainedModel:
    """A value model saved by an earlier PPO run (save_value_model), checked to read the policy's tokens; only its
    first `layers` layers when that is not 0."""
    folder = value_model_folder(given)
    if load_tokenizer(folder).get_vocab() != tokenizer.get_vocab():
        raise TrainerError(f"{folder}: this value model reads other tokens than the policy")
    model = _value_classifier(folder, layers)
    if not isinstance(getattr(model, "score", None), nn.Linear) or model.config.num_labels != 1:
        raise TrainerError(f"{folder}: not a value model (one output, read by a `score` head at every token)")
    return model


def save_value_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out: Path) -> None:
    """out/value_model/: the trained value model with the policy's tokenizer, for a later --value-model."""
    model.save_pretrained(Path(out) / VALUE_MODEL)
    tokenizer.save_pretrained(Path(out) / VALUE_MODEL)


class PolicyAndValue(nn.Module):
    """The policy and the value model as one module, so `accelerator.prepare` wraps (and synchronises) both."""

    def __init__(self, policy: PreTrainedModel, value_model: PreTrainedModel):
        super().__init__()
        self.policy = policy
        self.value_model = value_model

    def forward(self, input_ids: Tensor, attention_mask: Tensor, response_length: int) -> tuple[Tensor, Tensor]:
        """input_ids, attention_mask (b, P + T) -> (logits (b, T, V) that predicted each response token,
        values (b, T): the value of the state before each response token)."""
        # Positions count real tokens only, as `generate` counts them after left padding.
        position_ids = (attention_mask.cumsum(1) - 1).clamp(min=0)  # (b, P + T)
        # The last T + 1 positions' logits are all that is needed: no vocabulary projection of the prompt.
        logits = self.policy(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            logits_to_keep=response_length + 1,
        ).logits[:, :-1]  # (b, T, V)
        hidden = self.value_model.base_model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
        ).last_hidden_state[:, -response_length - 1 : -1]  # (b, T, H)
        values = self.value_model.score(hidden).squeeze(-1).float()  # (b, T)  fp32 under bf16 autocast too
        return logits, values


def reference_logits(
    reference: PreTrainedModel, input_ids: Tensor, attention_mask: Tensor, response_length: int
) -> Tensor:
    """The reference policy's logits for the response tokens, (b, T, V)."""
    position_ids = (attention_mask.cumsum(1) - 1).clamp(min=0)  # (b, P + T)
    return reference(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        logits_to_keep=response_length + 1,
    ).logits[:, :-1]
