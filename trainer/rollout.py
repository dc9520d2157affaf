"""A PPO rollout's bookkeeping: which prompts a step draws, their tokens, the response masks, how to sample.

Pure functions of their inputs (a resumed run draws the same prompts at the same step), tested on their own.
Shapes: B responses in a batch (b in a minibatch), P prompt tokens (left-padded), T response tokens.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence

import torch
from torch import Tensor
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from trainer.configs import PPOConfig
from trainer.encoding import Prompt, render


@functools.lru_cache(maxsize=4)
def _permutation(count: int, seed: int, epoch: int) -> list[int]:
    order = list(range(count))
    random.Random(f"{seed}-{epoch}").shuffle(order)
    return order


def prompt_indices(count: int, step: int, batch_size: int, rank: int, world: int, seed: int) -> list[int]:
    """The prompts of `step` (1-based) on process `rank`: the next batch_size of a fresh shuffle per pass.

    A pure function of its arguments, so a resumed run draws the same prompts at the same step.
    """
    first = ((step - 1) * world + rank) * batch_size
    return [
        _permutation(count, seed, position // count)[position % count] for position in range(first, first + batch_size)
    ]


def prompt_token_ids(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[Prompt], max_length: int) -> list[list[int]]:
    """The token ids of each prompt as the policy reads it, at most max_length (a long prompt keeps its end)."""
    # render() writes a prompt as the reward model reads one: the chat template with the assistant header
    # (or the plain text for a model without a template); the answer part is what the policy will write.
    texts = [render(tokenizer, prompt, "")[0] for prompt in prompts]
    encoded = tokenizer(texts, add_special_tokens=not tokenizer.chat_template, truncation=False)["input_ids"]
    return [ids[-max_length:] for ids in encoded]


def window(query_mask: Tensor, mask: Tensor, rows: Tensor) -> tuple[slice, int]:
    """The columns of (prompt + response) that the given rows need, and how many response tokens that keeps.

    query_mask (B, P), mask (B, T), rows (b,) -> (from the first prompt token any of the rows has to the end of
    its longest response, t). Outside that window there is only padding: leaving it out changes no value read
    at a real token (padding is never attended to, positions count real tokens), and it saves the work.
    """
    first = int(query_mask[rows].argmax(dim=1).min())  # argmax finds each row's first 1: its first prompt token
    width = int(mask[rows].sum(dim=1).max())  # the longest response among the rows, its stop token included
    return slice(first, query_mask.shape[1] + width), width


def response_mask(responses: Tensor, stop_ids: Tensor) -> tuple[Tensor, Tensor]:
    """responses (B, T) -> (mask (B, T): 1 up to and including the first stop token, ended (B,) bool)."""
    is_stop = torch.isin(responses, stop_ids)  # (B, T)
    ended = is_stop.any(dim=1)  # (B,)
    length = responses.shape[1]
    first_stop = torch.where(ended, is_stop.int().argmax(dim=1), length)  # (B,)  T when it never ended
    positions = torch.arange(length, device=responses.device)  # (T,)
    return (positions.unsqueeze(0) <= first_stop.unsqueeze(1)).long(), ended  # (B, T), (B,)


def stop_ids(policy: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The tokens that end a response: the tokenizer's eos and those of the model's generation config."""
    configured = getattr(policy.generation_config, "eos_token_id", None)
    ids = configured if isinstance(configured, list) else [configured]
    return sorted({token for token in [*ids, tokenizer.eos_token_id] if token is not None})


def sampling_config(cfg: PPOConfig, stop_ids: list[int], tokenizer: PreTrainedTokenizerBase) -> GenerationConfig:
    """How rollouts are sampled: temperature and top-p only (no top-k, no repetition penalty), up to response_length."""
    return GenerationConfig(
        max_new_tokens=cfg.response_length,
        do_sample=True,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        top_k=0,
        repetition_penalty=1.0,
        eos_token_id=stop_ids,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
