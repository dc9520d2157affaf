"""A copy of a LoRA-trained policy with its adapters merged in, used only to sample the rollout's tokens.

Why: peft runs each adapted linear layer as three matrix products (the frozen weight, then A, then B). Sampling
runs the model once per new token on a handful of rows, where each call's overhead rather than its arithmetic is
the cost: on SmolLM2, 8 answers of 53 tokens take 11.1 s through the adapters against 7.6 s with plain weights
(BENCHMARKS.md, "PPO"). peft's own merge_adapter()/unmerge_adapter() would add the adapters into the trained
weights and take them out again every step, which does not give the fp32 weights back bit for bit; so the merge
goes into a separate copy (the policy's size again, in the sampling dtype).

The copy only picks the tokens. The log-probabilities PPO trains on are still taken from the trained model in the
rollout's own forward pass, so the first minibatch's ratio stays exactly 1; the copy's weights differ from the
adapted layers' W + s·B·A only by rounding, as bf16 autocast already rounds them.
"""

from __future__ import annotations

import copy

import torch
from peft.tuners.lora.layer import Linear as LoraLinear
from torch import nn
from transformers import PreTrainedModel

ADAPTER = "default"  # the adapter get_peft_model adds (lora_config in runs.py names none)
PEFT_PREFIX = "base_model.model."  # what a PeftModel puts before the wrapped model's module names


class MergedSampler:
    def __init__(self, policy: PreTrainedModel, dtype: torch.dtype):
        """A frozen copy of `policy` (taken before get_peft_model wraps it) in `dtype`."""
        self.model = copy.deepcopy(policy).eval().requires_grad_(False).to(dtype)

    @torch.no_grad()
    def merged(self, peft_policy: nn.Module) -> PreTrainedModel:
        """The copy with every adapted layer's weight set to the trained W + s·B·A of `peft_policy` now."""
        layers = dict(self.model.named_modules())
        for name, module in peft_policy.named_modules():
            if isinstance(module, LoraLinear):
                target = layers[name.removeprefix(PEFT_PREFIX)]
                merged = module.base_layer.weight + module.get_delta_weight(ADAPTER)  # fp32
                target.weight.copy_(merged)  # cast to the copy's dtype
        return self.model
