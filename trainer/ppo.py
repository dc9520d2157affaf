"""Stage 3 of the method: a policy tuned with PPO against the reward model, kept near where it started.

    train_ppo(cfg) reads top to bottom. Once: the prompts (from a snapshot of the project, or a file), the
    policy, its frozen reference, the reward model and a value model. Then each step:
      1 rollout     a batch of prompts, left-padded in the policy's chat template -> responses sampled with
                    `generate` (temperature, top-p, at most response_length tokens); each response's mask
                    runs up to and including its first end-of-sequence token; the log-probabilities of the
                    sampled tokens under the policy at the sampling temperature, and under the reference
      2 score       each response decoded to text and scored by the reward model as `labeler-train reward`
                    scores an answer (its own tokenizer and chat template), normalised with the mean and
                    deviation the reward trainer saved; minus --missing-eos-penalty when it never ended
      3 KL          per-token KL to the reference (k1, or k3), times a fixed coefficient or one the adaptive
                    controller moves toward --target-kl; the score is added on the response's last token
      4 advantages  the value model's value of every response token (a sequence classifier whose score head
                    reads every position; it starts as the reward model when that one reads the policy's
                    tokens causally, else as the policy with a new head), GAE, advantages whitened over the batch
      5 PPO epochs  several passes over shuffled minibatches: clipped policy loss + value_coef × clipped value
                    loss, gradients clipped, one optimiser step per minibatch
      6 log         metrics.jsonl (a line per step), samples.jsonl, progress / events, checkpoints

The arithmetic (masked statistics, GAE, KL estimators, losses, controllers) is in trainer/ppo_math.py, tested
against hand-computed values. The loop runs under `accelerate launch` unchanged: each process samples its
own prompts, the policy and value model are prepared together (so their gradients are synchronised), only
the main process reports and saves. A checkpoint holds the whole state (weights, optimiser, scheduler,
random generators, the KL coefficient), so `--resume` continues with the very same rollouts.

`--lora` trains LoRA adapters on the policy; the reference is the same weights with the adapters switched
off, so the model is held once. `--algo rloo` hands the same prompts, policy and reward to TRL's
RLOOTrainer instead (the maintained alternative) and writes the same files.

Shapes: B responses in a batch (b in a minibatch), P prompt tokens (left-padded), T response tokens
(right-padded), V the vocabulary, H the hidden size.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import random
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch import Tensor, nn
from transformers import (
    AutoModelForSequenceClassification,
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from labeler.store import open_read_only
from trainer.configs import PPOConfig
from trainer.data import read_prompts_file, snapshot_project
from trainer.encoding import Prompt, render
from trainer.errors import TrainerError
from trainer.events import Progress
from trainer.models import load_policy, load_trained_reward_model, resolve_model_folder
from trainer.ppo_math import (
    AdaptiveKLController,
    FixedKLController,
    clipped_policy_loss,
    clipped_value_loss,
    entropy_from_logits,
    gae,
    logprobs_from_logits,
    masked_mean,
    masked_whiten,
    rewards_with_kl,
)
from trainer.runs import (
    check_output_folder,
    config_record,
    finish_run,
    load_last_checkpoint,
    lora_config,
    quiet,
    save_checkpoint,
    trl_arguments,
    trl_checkpoint_to_resume,
)
from trainer.scoring import score_texts

PROMPTS_NAME = "prompts.jsonl"  # the prompts of the run, kept in --out while training so --resume reads the same


def train_ppo(cfg: PPOConfig) -> dict:
    """Tune the policy as `cfg` says, save it with its logs; return the metrics written to metrics.json."""
    _check(cfg)
    started = time.monotonic()
    accelerator = Accelerator()
    accelerator.wait_for_everyone()  # every process has checked --out before the main one writes there
    out = Path(cfg.out)
    report = accelerator.is_main_process
    if cfg.events or not sys.stderr.isatty():
        hf_logging.disable_progress_bar()  # "Loading weights" and "Writing model shards" would litter a log

    prompts, prompts_digest = _prompts(cfg, accelerator)
    policy, tokenizer, policy_folder = load_policy(cfg.policy)
    reward_model, reward_tokenizer = load_trained_reward_model(Path(cfg.reward))
    reward_model.eval().requires_grad_(False)
    normalise = _reward_normalisation(Path(cfg.reward))
    common = {
        "policy": str(cfg.policy),
        "policy_folder": str(policy_folder),
        "reward": str(cfg.reward),
        "reward_normalisation": normalise,
        "prompts": len(prompts),
        "prompts_sha256": prompts_digest,
    }
    if cfg.algo == "rloo":
        metrics = _train_rloo(cfg, prompts, policy, tokenizer, reward_model, reward_tokenizer, normalise, report)
    else:
        metrics = _train_ppo(
            cfg,
            accelerator,
            prompts,
            policy,
            tokenizer,
            policy_folder,
            reward_model,
            reward_tokenizer,
            normalise,
            report,
        )
    metrics = {**metrics, **common, "seconds": round(time.monotonic() - started, 3)}
    metrics["config"] = config_record(cfg)
    accelerator.wait_for_everyone()
    if report:
        finish_run(out, metrics, out / PROMPTS_NAME)
    return metrics


def _check(cfg: PPOConfig) -> None:
    if cfg.algo not in ("ppo", "rloo"):
        raise TrainerError(f"--algo is ppo or rloo, not {cfg.algo!r}")
    if cfg.kl_estimator not in ("k1", "k3"):
        raise TrainerError(f"--kl-estimator is k1 or k3, not {cfg.kl_estimator!r}")
    if cfg.steps < 1 or cfg.ppo_epochs < 1 or cfg.response_length < 1 or cfg.max_prompt_length < 1:
        raise TrainerError("--steps, --ppo-epochs, --response-length and --max-prompt-length must be at least 1")
    if cfg.batch_size < 2 or not 1 <= cfg.mini_batch_size <= cfg.batch_size:
        raise TrainerError("--batch-size ≥ 2 and 1 ≤ --mini-batch-size ≤ --batch-size, please")
    if cfg.learning_rate <= 0 or cfg.temperature <= 0 or not 0 < cfg.top_p <= 1:
        raise TrainerError("--learning-rate > 0, --temperature > 0 and 0 < --top-p ≤ 1, please")
    if cfg.target_kl is not None and cfg.target_kl <= 0:
        raise TrainerError("--target-kl must be positive")
    if cfg.algo == "rloo" and (cfg.target_kl is not None or cfg.kl_estimator != "k1"):
        raise TrainerError(
            "--algo rloo: TRL's RLOO penalises KL with a fixed coefficient and k1 (no --target-kl, no k3)"
        )
    if cfg.algo == "rloo" and (cfg.rloo_generations < 2 or cfg.batch_size % cfg.rloo_generations):
        raise TrainerError("--algo rloo: --rloo-generations ≥ 2 and dividing --batch-size, please")
    if cfg.algo == "rloo" and cfg.batch_size % cfg.mini_batch_size:
        raise TrainerError("--algo rloo: --mini-batch-size must divide --batch-size")
    if cfg.prompts_file is None and not Path(cfg.project).is_file():
        raise TrainerError(f"{cfg.project}: no such project file")
    if cfg.prompts_file is not None and not Path(cfg.prompts_file).is_file():
        raise TrainerError(f"{cfg.prompts_file}: no such file")
    check_output_folder(Path(cfg.out), cfg.resume)


# --- Prompts --------------------------------------------------------------------------------------------


def _prompts(cfg: PPOConfig, accelerator: Accelerator) -> tuple[list[Prompt], str]:
    """The run's prompts and their sha256. Written once to out/prompts.jsonl, which a resumed run reads back."""
    kept = Path(cfg.out) / PROMPTS_NAME
    if not (cfg.resume and kept.is_file()) and accelerator.is_main_process:
        prompts = read_prompts_file(Path(cfg.prompts_file)) if cfg.prompts_file else _project_prompts(cfg)
        if not prompts:
            raise TrainerError(f"{cfg.prompts_file or cfg.project}: no prompts to train on")
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        partial = kept.with_suffix(".partial")
        partial.write_text("".join(json.dumps(prompt, ensure_ascii=False) + "\n" for prompt in prompts))
        partial.replace(kept)
    accelerator.wait_for_everyone()
    data = kept.read_bytes()
    return [json.loads(line) for line in data.decode().splitlines()], hashlib.sha256(data).hexdigest()


def _project_prompts(cfg: PPOConfig) -> list[Prompt]:
    snapshot, _ = snapshot_project(cfg.project, Path(cfg.out))
    try:
        with open_read_only(snapshot) as store:
            ids = store.prompt_ids()
            found = store.prompts(ids)
        return [found[prompt_id].content for prompt_id in ids]
    finally:
        snapshot.unlink(missing_ok=True)


@functools.lru_cache(maxsize=4)
def _permutation(count: int, seed: int, epoch: int) -> list[int]:
    order = list(range(count))
    random.Random(f"{seed}-{epoch}").shuffle(order)
    return order


def _prompt_indices(count: int, step: int, batch_size: int, rank: int, world: int, seed: int) -> list[int]:
    """The prompts of `step` (1-based) on process `rank`: the next batch_size of a fresh shuffle per pass.

    A pure function of its arguments, so a resumed run draws the same prompts at the same step.
    """
    first = ((step - 1) * world + rank) * batch_size
    return [
        _permutation(count, seed, position // count)[position % count] for position in range(first, first + batch_size)
    ]


def _prompt_ids(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[Prompt], max_length: int) -> list[list[int]]:
    """The token ids of each prompt as the policy reads it, at most max_length (a long prompt keeps its end)."""
    # render() writes a prompt as the reward model reads one: the chat template with the assistant header
    # (or the plain text for a model without a template); the answer part is what the policy will write.
    texts = [render(tokenizer, prompt, "")[0] for prompt in prompts]
    encoded = tokenizer(texts, add_special_tokens=not tokenizer.chat_template, truncation=False)["input_ids"]
    return [ids[-max_length:] for ids in encoded]


def _left_pad(encoded: Sequence[list[int]], pad_token_id: int) -> tuple[Tensor, Tensor]:
    """(input_ids, attention_mask), each (B, P), padded on the left: generation continues from each last token."""
    longest = max(map(len, encoded))
    input_ids = torch.full((len(encoded), longest), pad_token_id, dtype=torch.long)  # (B, P)
    attention_mask = torch.zeros((len(encoded), longest), dtype=torch.long)  # (B, P)
    for row, ids in enumerate(encoded):
        input_ids[row, longest - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, longest - len(ids) :] = 1
    return input_ids, attention_mask


def _encode_prompts(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[Prompt], max_length: int
) -> tuple[Tensor, Tensor]:
    """(input_ids, attention_mask), each (B, P): the prompts as the policy reads them, left-padded."""
    return _left_pad(_prompt_ids(tokenizer, prompts, max_length), tokenizer.pad_token_id)


# --- Models ---------------------------------------------------------------------------------------------------


def _reward_normalisation(folder: Path) -> dict:
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


def _disable_dropout(model: nn.Module) -> None:
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


def _value_model(
    reward_folder: Path,
    reward_tokenizer: PreTrainedTokenizerBase,
    policy_folder: Path,
    tokenizer: PreTrainedTokenizerBase,
) -> tuple[PreTrainedModel, str]:
    """A sequence classifier used token by token as the value model, and where it started ("reward"/"policy").

    It reads the policy's tokens, one value per position, so it must share the policy's vocabulary and be
    causal. The reward model, when it is both, is the better start (it already knows what scores well);
    otherwise (a BERT-style reward model such as minilm, or another tokenizer) the policy's own body with a
    new score head.
    """
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a policy read as a classifier reports its new head: that is the point
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            resolve_model_folder(reward_folder), dtype=torch.float32
        )
        if (
            reward_tokenizer.get_vocab() == tokenizer.get_vocab()
            and isinstance(getattr(model, "score", None), nn.Linear)
            and _is_causal(model, len(tokenizer))
        ):
            return model, "reward"
        model = AutoModelForSequenceClassification.from_pretrained(policy_folder, num_labels=1, dtype=torch.float32)
    finally:
        hf_logging.set_verbosity(verbosity)
    if not isinstance(getattr(model, "score", None), nn.Linear):
        raise TrainerError(f"{policy_folder}: its sequence-classifier form has no `score` head to use as a value head")
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, "policy"


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
        values = self.value_model.score(hidden).squeeze(-1)  # (b, T)
        return logits, values


def _reference_logits(
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


def _window(query_mask: Tensor, mask: Tensor, rows: Tensor) -> tuple[slice, int]:
    """The columns of (prompt + response) that the given rows need, and how many response tokens that keeps.

    query_mask (B, P), mask (B, T), rows (b,) -> (from the first prompt token any of the rows has to the end of
    its longest response, t). Outside that window there is only padding: leaving it out changes no value read
    at a real token (padding is never attended to, positions count real tokens), and it saves the work.
    """
    first = int(query_mask[rows].argmax(dim=1).min())  # argmax finds each row's first 1: its first prompt token
    width = int(mask[rows].sum(dim=1).max())  # the longest response among the rows, its stop token included
    return slice(first, query_mask.shape[1] + width), width


def _response_mask(responses: Tensor, stop_ids: Tensor) -> tuple[Tensor, Tensor]:
    """responses (B, T) -> (mask (B, T): 1 up to and including the first stop token, ended (B,) bool)."""
    is_stop = torch.isin(responses, stop_ids)  # (B, T)
    ended = is_stop.any(dim=1)  # (B,)
    length = responses.shape[1]
    first_stop = torch.where(ended, is_stop.int().argmax(dim=1), length)  # (B,)  T when it never ended
    positions = torch.arange(length, device=responses.device)  # (T,)
    return (positions.unsqueeze(0) <= first_stop.unsqueeze(1)).long(), ended  # (B, T), (B,)


def _stop_ids(policy: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
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


# --- The PPO loop ---------------------------------------------------------------------------------------------


def _train_ppo(
    cfg: PPOConfig,
    accelerator: Accelerator,
    prompts: list[Prompt],
    policy: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    policy_folder: Path,
    reward_model: PreTrainedModel,
    reward_tokenizer: PreTrainedTokenizerBase,
    normalise: dict,
    report: bool,
) -> dict:
    """Our loop (the module docstring's steps 1-6); returns the metrics of the run for metrics.json."""
    out = Path(cfg.out)
    set_seed(cfg.seed, device_specific=True)  # each process samples its own responses
    value_model, value_init = _value_model(Path(cfg.reward), reward_tokenizer, policy_folder, tokenizer)
    stop_ids = _stop_ids(policy, tokenizer)
    # Sampling is set here in full: the model's own generation config (top-k 50, a repetition penalty, ...)
    # would change the distribution the tokens come from, and the log-probabilities would no longer be its.
    saved_generation_config = policy.generation_config
    policy.generation_config = GenerationConfig(
        eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id
    )
    sampling = sampling_config(cfg, stop_ids, tokenizer)
    if cfg.lora:
        from peft import get_peft_model

        policy = get_peft_model(policy, lora_config(cfg.lora_rank, cfg.lora_alpha))
        reference = None  # the policy with its adapters disabled
    else:
        reference = copy.deepcopy(policy).eval().requires_grad_(False)
    for module in (policy, value_model, reward_model, reference):
        if module is not None:
            _disable_dropout(module)

    model = PolicyAndValue(policy, value_model)
    model.train()
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    # eps 1e-5 as in OpenAI's lm-human-preferences and cleanrl: Adam's step stays bounded on near-zero gradients.
    # Fused: one kernel for all parameters (on the CPU torch otherwise updates them one tensor at a time).
    optimizer = torch.optim.AdamW(
        trainable,
        lr=cfg.learning_rate,
        eps=1e-5,
        weight_decay=0.0,
        fused=accelerator.device.type in ("cpu", "cuda"),
    )
    # Linear decay to 0, one step per rollout batch. Not passed to prepare(), which would step it once per process.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda done: max(0.0, 1.0 - done / cfg.steps))
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    device = accelerator.device
    unwrapped = accelerator.unwrap_model(model)
    if reference is not None:
        reference.to(device)
    reward_model.to(device)
    kl_control = (
        AdaptiveKLController(cfg.kl_coef, cfg.target_kl, cfg.kl_horizon)
        if cfg.target_kl is not None
        else FixedKLController(cfg.kl_coef)
    )
    stop_tensor = torch.tensor(stop_ids, device=device)
    world = accelerator.num_processes

    step = 0
    if cfg.resume:
        resumed = load_last_checkpoint(cfg.out, accelerator)
        step, kl_control.value = resumed["step"], resumed["kl_coef"]
    if report:
        _cut_logs(out, step)  # what a killed run logged after its last checkpoint is logged again
    progress = Progress(cfg.steps, cfg.events, "ppo", enabled=report)
    progress.emit(
        "start", total_steps=cfg.steps, algo="ppo", prompts=len(prompts), value_init=value_init, resumed_at=step
    )
    prompt_ids: dict[int, list[int]] = {}
    loop_started, first_step, first_score, last_row = time.monotonic(), step + 1, None, {}
    while step < cfg.steps:
        step += 1
        step_started = time.monotonic()
        indices = _prompt_indices(len(prompts), step, cfg.batch_size, accelerator.process_index, world, cfg.seed)
        batch_prompts = [prompts[index] for index in indices]

        with torch.no_grad():
            # 1 rollout
            missing = [index for index in dict.fromkeys(indices) if index not in prompt_ids]
            if missing:  # each prompt is rendered once per run
                encoded = _prompt_ids(tokenizer, [prompts[index] for index in missing], cfg.max_prompt_length)
                prompt_ids.update(zip(missing, encoded, strict=True))
            queries, query_mask = _left_pad([prompt_ids[index] for index in indices], tokenizer.pad_token_id)  # (B, P)
            queries, query_mask = queries.to(device), query_mask.to(device)
            sequences = unwrapped.policy.generate(
                input_ids=queries, attention_mask=query_mask, generation_config=sampling
            )  # (B, P + T)
            responses = sequences[:, queries.shape[1] :]  # (B, T)  T ≤ response_length: generate stops when all ended
            mask, ended = _response_mask(responses, stop_tensor)  # (B, T), (B,)
            # Nothing after a response's stop token is attended to: it is padding, whatever generate wrote there.
            attention_mask = torch.cat([query_mask, mask], dim=1)  # (B, P + T)
            # (B, T) each, filled minibatch by minibatch; 0 past a minibatch's longest response (masked anyway).
            logprobs, ref_logprobs, values, entropies = (torch.zeros(responses.shape, device=device) for _ in range(4))
            for rows in torch.arange(len(indices), device=device).split(cfg.mini_batch_size):
                columns, width = _window(query_mask, mask, rows)
                inputs = (sequences[rows][:, columns], attention_mask[rows][:, columns])  # (b, ≤ P + T) each
                taken = responses[rows][:, :width]  # (b, t)
                logits, value = model(*inputs, width)  # (b, t, V), (b, t)
                logits = logits / cfg.temperature  # the distribution the tokens were sampled from
                logprobs[rows, :width] = logprobs_from_logits(logits, taken)  # (b, t)
                entropies[rows, :width] = entropy_from_logits(logits)  # (b, t)
                values[rows, :width] = value  # (b, t)
                del logits
                with unwrapped.policy.disable_adapter() if reference is None else nullcontext():
                    ref_logits = _reference_logits(reference or unwrapped.policy, *inputs, width)  # (b, t, V)
                ref_logprobs[rows, :width] = logprobs_from_logits(ref_logits / cfg.temperature, taken)  # (b, t)
                del ref_logits
            entropy = masked_mean(entropies, mask)  # ()

            # 2 score: the answer as text (without its stop token), read by the reward model its own way
            lengths = mask.sum(dim=1) - ended.long()  # (B,)  answer tokens
            answers = tokenizer.batch_decode(
                [response[:n] for response, n in zip(responses.tolist(), lengths.tolist(), strict=True)],
                skip_special_tokens=True,
            )
            raw = score_texts(reward_model, reward_tokenizer, batch_prompts, answers, normalise["max_length"])  # (B,)
            scores = ((raw - normalise["mean"]) / normalise["std"]).to(device)  # (B,)
            penalised = scores
            if cfg.missing_eos_penalty is not None:
                penalised = scores - cfg.missing_eos_penalty * (~ended).float()  # (B,)

            # 3 KL: −β·KL_t on every token, the score on the last one
            kl_coef = kl_control.value
            rewards, kl = rewards_with_kl(penalised, logprobs, ref_logprobs, mask, kl_coef, cfg.kl_estimator)  # (B, T)

            # 4 advantages
            advantages, returns = gae(rewards, values, mask, cfg.gamma, cfg.lam)  # (B, T), (B, T)
            advantages = masked_whiten(advantages, mask)  # (B, T)  mean 0, variance 1 over the real tokens

        # 5 PPO epochs
        learning_rate = scheduler.get_last_lr()[0]
        losses = []  # per minibatch: policy loss, value loss, clip fraction, value clip fraction, approx KL
        for _ in range(cfg.ppo_epochs):
            for rows in torch.randperm(len(indices), device=device).split(cfg.mini_batch_size):
                columns, width = _window(query_mask, mask, rows)
                inputs = (sequences[rows][:, columns], attention_mask[rows][:, columns])  # (b, ≤ P + T) each
                logits, new_values = model(*inputs, width)  # (b, t, V), (b, t)
                new_logprobs = logprobs_from_logits(logits / cfg.temperature, responses[rows][:, :width])  # (b, t)
                kept = mask[rows][:, :width]  # (b, t)
                policy_loss = clipped_policy_loss(
                    new_logprobs, logprobs[rows][:, :width], advantages[rows][:, :width], kept, cfg.clip_range
                )
                value_loss = clipped_value_loss(
                    new_values, values[rows][:, :width], returns[rows][:, :width], kept, cfg.clip_range_value
                )
                accelerator.backward(policy_loss.loss + cfg.value_coef * value_loss.loss)
                accelerator.clip_grad_norm_(trainable, cfg.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
                losses.append(
                    torch.stack(
                        [
                            policy_loss.loss.detach(),
                            value_loss.loss.detach(),
                            policy_loss.clip_fraction,
                            value_loss.clip_fraction,
                            policy_loss.approx_kl,
                        ]
                    )
                )
        scheduler.step()
        mean_kl = kl.sum(dim=1).mean()  # ()  KL per response, summed over its tokens

        # 6 log: means over the batch (over every process's batch)
        summary = torch.stack(
            [
                scores.mean(),
                rewards.sum(dim=1).mean(),
                mean_kl,
                entropy,
                mask.sum(dim=1).float().mean(),
                ended.float().mean(),
                *torch.stack(losses).mean(dim=0),
            ]
        )
        summary = accelerator.reduce(summary, reduction="mean").tolist()
        kl_control.update(summary[2], cfg.batch_size * world)
        names = ("score", "reward", "kl", "entropy", "response_length", "eos_fraction")
        names += ("policy_loss", "value_loss", "clip_fraction", "value_clip_fraction", "approx_kl")
        row = {"step": step, "episodes": step * cfg.batch_size * world, **dict(zip(names, summary, strict=True))}
        row.update(kl_coef=kl_coef, learning_rate=learning_rate, seconds=round(time.monotonic() - step_started, 4))
        first_score = row["score"] if first_score is None else first_score
        last_row = row
        if report:
            _append_jsonl(out / "metrics.jsonl", row)
            if cfg.sample_every and (step % cfg.sample_every == 0 or step == 1):
                for index in range(min(cfg.samples, len(answers))):
                    sample = {"step": step, "prompt": batch_prompts[index], "answer": answers[index]}
                    sample.update(score=float(scores[index]), ended=bool(ended[index]))
                    _append_jsonl(out / "samples.jsonl", sample)
        progress.step(
            step,
            **{key: row[key] for key in ("score", "kl", "entropy", "clip_fraction", "value_loss")},
            approx_kl=row["approx_kl"],
            learning_rate=learning_rate,
        )
        if cfg.save_steps and step % cfg.save_steps == 0 and step < cfg.steps:
            save_checkpoint(cfg.out, accelerator, step, progress, kl_coef=kl_control.value)
    progress.close()
    train_seconds = time.monotonic() - loop_started

    accelerator.wait_for_everyone()
    policy = accelerator.unwrap_model(model).policy
    if report:
        if cfg.lora:
            policy.save_pretrained(out / "adapter")  # the adapters alone, for peft
            policy = policy.merge_and_unload()  # and the policy as a plain model folder, like a full fine-tune
        policy.generation_config = saved_generation_config
        policy.save_pretrained(out)
        tokenizer.save_pretrained(out)
    episodes = (step - first_step + 1) * cfg.batch_size * world
    return {
        "algo": "ppo",
        "steps": step,
        "episodes": step * cfg.batch_size * world,
        "first_score": first_score,  # of this process's first step (the resumed step, after --resume)
        "last_score": last_row.get("score"),
        "last_kl": last_row.get("kl"),
        "kl_coef": kl_control.value,
        "train_seconds": round(train_seconds, 3),
        "episodes_per_second": round(episodes / train_seconds, 3) if train_seconds > 0 else None,
        "value_init": value_init,
        "lora": cfg.lora,
    }


def _append_jsonl(path: Path, row: dict) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(json.dumps(row, ensure_ascii=False) + "\n")


def _cut_logs(out: Path, step: int) -> None:
    """Keep only the lines of metrics.jsonl and samples.jsonl of steps up to `step` (all of them on a new run: none)."""
    for name in ("metrics.jsonl", "samples.jsonl"):
        path = out / name
        if path.is_file():
            kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
            path.write_text("".join(line + "\n" for line in kept))


# --- --algo rloo: TRL's RLOOTrainer on the same prompts, policy and reward ----------------------------------------


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
                _append_jsonl(self.out / "metrics.jsonl", row)
            fields = {key: row[key] for key in ("score", "kl", "entropy", "clip_fraction", "learning_rate")}
            self.progress.step(step, **fields)

        def on_save(self, args, state, control, **kwargs):
            step = state.global_step // self.per_step
            self.progress.emit("checkpoint", step=step, path=f"{args.output_dir}/checkpoint-{state.global_step}")

    return RLOOLog(out, progress, per_step, batch_size, report)


def _train_rloo(
    cfg: PPOConfig,
    prompts: list[Prompt],
    policy: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    reward_model: PreTrainedModel,
    reward_tokenizer: PreTrainedTokenizerBase,
    normalise: dict,
    report: bool,
) -> dict:
    """TRL's RLOOTrainer with our reward function; the same output files as the PPO loop.

    RLOO samples rloo_generations responses per prompt and uses the others' mean reward as each one's
    baseline, so it needs no value model. TRL's RLOO penalises KL with a fixed β and the k1 estimator.
    """
    import datasets
    import trl

    if cfg.events or not sys.stderr.isatty():
        datasets.disable_progress_bars()
    out = Path(cfg.out)
    stop_ids = _stop_ids(policy, tokenizer)
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
    trainer = trl.RLOOTrainer(
        model=policy,
        reward_funcs=_reward_function(reward_model, reward_tokenizer, normalise, cfg.missing_eos_penalty, stop_ids),
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
        callbacks=[logger],
        peft_config=peft_config,
    )
    quiet(trainer)
    resume_from = trl_checkpoint_to_resume(out, cfg.resume)
    resumed_at = 0
    if resume_from:
        resumed_at = int(resume_from.name.split("-")[1]) // per_step
        if report:
            _cut_logs(out, resumed_at)
    progress.emit("start", total_steps=cfg.steps, algo="rloo", prompts=len(prompts), resumed_at=resumed_at)
    loop_started = time.monotonic()
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
