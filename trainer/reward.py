"""Stage 2 of the method: a reward model that scores answers the way the project's annotators ranked them.

    train_reward(cfg) reads top to bottom:
      1 data      a snapshot of the project -> current rankings -> split by prompt (no prompt on both sides)
      2 model     any HF folder (or an embedded default) as a sequence classifier with one output
      3 tokens    every (prompt, answer) once; what is too long loses the start of its prompt, counted
      4 train     --tune head (the default): the body frozen, a linear head fitted to its mean-pooled
                  features (reward_head.py); --tune all fine-tunes the whole model with
                  --loss grouped: our loop, one ranking one batch element (InstructGPT §3.5), or
                  --loss pairwise: TRL's RewardTrainer on the same tokens, the reference
      5 evaluate  pair-weighted accuracy on the held-out prompts, reward mean/std on the training answers
      6 save      the HF model folder and metrics.json

The grouped loop runs under `accelerate launch` unchanged (Accelerator prepares model, optimiser and data;
only the main process reports and saves). Under --tune all, checkpoints hold the whole training state, so
`--resume` continues from the last one with the same batches.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import datasets
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from transformers import PreTrainedModel, PreTrainedTokenizerBase, get_scheduler
from transformers.utils import logging as hf_logging

from labeler.statistics import RankedJudgement, pairwise_agreement
from labeler.store import open_read_only
from trainer.batching import pack_rankings
from trainer.configs import DEFAULT_HEAD_LAYERS, RewardConfig
from trainer.data import RankedPrompt, pairs_of, ranked_prompts, sha256_of, split_by_prompt, split_into_folds
from trainer.encoding import encode
from trainer.errors import TrainerError
from trainer.events import Progress
from trainer.models import load_reward_model, use_bf16
from trainer.reward_head import MeanPooledReward, fit_head, install_head, pooled_features, score_head
from trainer.reward_loss import LossMargins, batch_for_prompts, grouped_loss, pair_accuracy
from trainer.runs import (
    SNAPSHOT_NAME,
    ReportTrainerSteps,
    check_output_folder,
    config_record,
    finish_run,
    load_last_checkpoint,
    output_snapshot,
    quiet,
    remove_new_output,
    save_checkpoint,
    train_reported,
    trl_arguments,
)
from trainer.scoring import SCORE_BATCH, PairAccuracy, longer_wins, pad, pair_accuracy_of, score_ids
from trainer.stopping import RunStopped, checked_at_step_ends, requested

Scorer = Callable[[Sequence[list[int]]], torch.Tensor]  # token-id sequences -> their rewards, (N,) float32


@dataclass
class _Tokens:
    """Step 3's result: each ranking's answers as token ids, and what had to be cut."""

    rankings: list[tuple[RankedPrompt, list[list[int]]]]
    prompts_cut: int = 0
    answers_cut: int = 0


def train_reward(cfg: RewardConfig) -> dict:
    """Train, evaluate and save a reward model as `cfg` says; return the metrics written to metrics.json."""
    started = time.monotonic()
    _check(cfg)
    if cfg.layers is None:  # resolved here, so metrics.json says how deep the model is
        cfg = replace(cfg, layers=DEFAULT_HEAD_LAYERS.get(str(cfg.base), 0) if cfg.tune == "head" else 0)
    accelerator = Accelerator()
    accelerator.wait_for_everyone()  # every process has checked --out before the main one writes to it
    set_seed(cfg.seed)
    out = Path(cfg.out)
    progress_enabled = accelerator.is_main_process
    if cfg.events or not sys.stderr.isatty():
        # Bars drawn by the libraries ("Writing model shards", "Filtering train") would litter a log file.
        hf_logging.disable_progress_bar()
        datasets.disable_progress_bars()

    # 1 data: the snapshot is taken by the main process; the others read the same file.
    if accelerator.is_main_process:
        output_snapshot(cfg.project, out, cfg.resume)
    accelerator.wait_for_everyone()
    snapshot = out / SNAPSHOT_NAME
    digest = sha256_of(snapshot)
    try:
        train, held_out = _split_rankings(cfg, snapshot)
        # 2 model
        model, tokenizer, folder = load_reward_model(cfg.base, cfg.layers)
        if cfg.disable_dropout:
            from trl.trainer.utils import disable_dropout_in_model  # here: importing trl takes 1.7 s

            disable_dropout_in_model(model)
    except TrainerError:
        if not cfg.resume and accelerator.is_main_process:
            remove_new_output(out, snapshot)  # so the corrected command can use the same --out
        raise

    # 3 tokens
    train_tokens = _tokenize(tokenizer, train, cfg.max_length)
    eval_tokens = _tokenize(tokenizer, held_out, cfg.max_length)
    train_pairs = sum(len(pairs_of(item)) for item in train)

    # 4 train
    training_started = time.monotonic()
    if cfg.tune == "head":
        model, steps, last_loss, score = _train_head(cfg, model, tokenizer, train_tokens, eval_tokens, progress_enabled)
    else:
        if cfg.loss == "grouped":
            steps, last_loss = _train_grouped(cfg, model, tokenizer, train_tokens, accelerator, progress_enabled)
        else:
            steps, last_loss = _train_pairwise(cfg, model, tokenizer, train_tokens, progress_enabled)
        model = accelerator.unwrap_model(model)
        score = functools.partial(score_ids, model, pad_token_id=tokenizer.pad_token_id)
    train_seconds = time.monotonic() - training_started

    # 5 evaluate
    evaluation = _evaluate(score, eval_tokens)
    reward_mean, reward_std = _reward_statistics(score, train_tokens)

    # 6 save
    metrics = {
        "eval_accuracy": evaluation.accuracy,
        "eval_pairs": evaluation.pairs,
        "eval_prompts": len({item.prompt_id for item in held_out}),
        "eval_mean_margin": evaluation.mean_margin,
        # What the rule "the longer answer wins" scores on the same held-out pairs: the bar to clear.
        "eval_longer_wins": _longer_wins_on(held_out),
        # How often two annotators who ranked the same held-out prompt order two answers alike: the ceiling
        # a model can hope for on these prompts (None when no held-out prompt was ranked by two people).
        **_agreement_on(held_out),
        # What "the answer shown earlier wins" scores on the held-out pairs labelled in the app (the
        # annotators' position bias, another bar to clear; None when none was labelled in the app).
        **_shown_earlier_wins_on(held_out),
        "train_pairs": train_pairs,
        "train_prompts": len({item.prompt_id for item in train}),
        "train_rankings": len(train),
        "train_loss": last_loss,
        "reward_mean": reward_mean,
        "reward_std": reward_std,
        "prompts_cut": train_tokens.prompts_cut + eval_tokens.prompts_cut,
        "answers_cut": train_tokens.answers_cut + eval_tokens.answers_cut,
        "steps": steps,
        "seconds": round(time.monotonic() - started, 3),
        "train_seconds": round(train_seconds, 3),  # step 4 alone: what the two losses are compared on
        "base": str(cfg.base),
        "base_folder": str(folder),
        "loss": "head" if cfg.tune == "head" else cfg.loss,
        "bf16": (cfg.tune == "head" or cfg.loss == "grouped") and use_bf16(cfg.bf16),  # what auto chose
        "snapshot_sha256": digest,
        "config": config_record(cfg),
    }
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        finish_run(out, metrics, snapshot)
    return metrics


def _split_rankings(cfg: RewardConfig, snapshot: Path) -> tuple[list[RankedPrompt], list[RankedPrompt]]:
    with open_read_only(snapshot) as store:
        rankings = ranked_prompts(store, list(cfg.annotators) or None, list(cfg.rounds) or None)
    if not rankings:
        who = f" by {', '.join(cfg.annotators)}" if cfg.annotators else ""
        which = f" in round {', '.join(map(str, cfg.rounds))}" if cfg.rounds else ""
        raise TrainerError(f"{cfg.project}: no ranked judgements{who}{which} to learn from")
    if cfg.folds:
        try:
            return split_into_folds(rankings, cfg.folds, cfg.fold, cfg.seed)
        except ValueError as error:
            raise TrainerError(f"{cfg.project}: {error}") from None
    try:
        return split_by_prompt(rankings, cfg.eval_fraction, cfg.seed)
    except ValueError as error:
        raise TrainerError(f"{cfg.project}: {error} (use --eval-fraction 0 to train on it anyway)") from None


def _check(cfg: RewardConfig) -> None:
    if cfg.loss not in ("grouped", "pairwise"):
        raise TrainerError(f"--loss is grouped or pairwise, not {cfg.loss!r}")
    if cfg.weighting not in ("prompt", "pair"):
        raise TrainerError(f"--weighting is prompt or pair, not {cfg.weighting!r}")
    if cfg.bf16 not in ("auto", "on", "off"):
        raise TrainerError(f"--bf16 is auto, on or off, not {cfg.bf16!r}")
    if cfg.margin not in ("none", "scaled"):
        raise TrainerError(f"--margin is none or scaled, not {cfg.margin!r}")
    if cfg.tune not in ("all", "head"):
        raise TrainerError(f"--tune is all or head, not {cfg.tune!r}")
    if cfg.tune == "head" and (cfg.loss != "grouped" or cfg.resume):
        raise TrainerError(
            "--loss pairwise and --resume fine-tune the whole model: add --tune all (--tune head, the default, "
            "fits its head with the grouped loss in seconds and keeps no checkpoints)"
        )
    if (cfg.layers is not None and cfg.layers < 0) or not 0 < cfg.head_l2 < math.inf:
        raise TrainerError("--layers ≥ 0 (0: all of them) and --head-l2 > 0, please")
    if cfg.folds and not (cfg.folds >= 2 and 1 <= cfg.fold <= cfg.folds):
        raise TrainerError(f"--fold {cfg.fold} of --folds {cfg.folds}: use at least 2 folds, numbered from 1")
    if not 0 < cfg.margin_scale < math.inf:
        raise TrainerError(f"--margin-scale must be a positive number, not {cfg.margin_scale}")
    if cfg.epochs < 1 or cfg.batch_size < 2 or cfg.max_length < 16 or cfg.learning_rate <= 0:
        raise TrainerError("--epochs ≥ 1, --batch-size ≥ 2, --max-length ≥ 16 and --learning-rate > 0, please")
    if not Path(cfg.project).is_file():
        raise TrainerError(f"{cfg.project}: no such project file")
    check_output_folder(Path(cfg.out), cfg.resume)


def _tokenize(tokenizer: PreTrainedTokenizerBase, rankings: list[RankedPrompt], max_length: int) -> _Tokens:
    """Each distinct (prompt, answer) is encoded once, however many annotators ranked it."""
    keys, prompts, answers, index_of = [], [], [], {}
    for item in rankings:
        for answer in item.answers:
            key = (item.prompt_id, answer)
            if key not in index_of:
                index_of[key] = len(keys)
                keys.append(key)
                prompts.append(item.prompt)
                answers.append(answer)
    encoded = encode(tokenizer, prompts, answers, max_length)
    tokens = [
        (item, [encoded.input_ids[index_of[(item.prompt_id, answer)]] for answer in item.answers]) for item in rankings
    ]
    return _Tokens(tokens, encoded.prompts_cut, encoded.answers_cut)


# --- 4 train: grouped ---------------------------------------------------------------------------------


def _collate(pad_token_id: int, loss_margins: LossMargins) -> Callable[[list], dict]:
    def collate(batch: list[tuple[RankedPrompt, list[list[int]]]]) -> dict:
        _, _, pair_index, margins, group_of_pair = batch_for_prompts([item for item, _ in batch], loss_margins)
        input_ids, attention_mask = pad([ids for _, answers in batch for ids in answers], pad_token_id)
        return {
            "input_ids": input_ids,  # (N, T): every answer of every ranking in the batch, ranking by ranking
            "attention_mask": attention_mask,  # (N, T)
            "pair_index": pair_index,  # (P, 2) positions in the N answers
            "margins": margins,  # (P,)
            "group_of_pair": group_of_pair,  # (P,)
            "groups": torch.tensor(len(batch)),  # ()
        }

    return collate


def _train_grouped(
    cfg: RewardConfig,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    tokens: _Tokens,
    accelerator: Accelerator,
    report: bool,
) -> tuple[int, float | None]:
    """Our loop: each ranking's K answers forwarded once, loss over all of its pairs. Returns (steps, last loss)."""
    sizes = [len(answers) for _, answers in tokens.rankings]
    lengths = [max(map(len, answers)) for _, answers in tokens.rankings]  # a batch pads to its longest
    collate = _collate(tokenizer.pad_token_id, LossMargins(cfg.margin, cfg.margin_scale))
    # Each epoch's batches are fixed by the seed, so a resumed run replays exactly the batches it missed.
    loaders = [
        DataLoader(
            tokens.rankings,
            batch_sampler=pack_rankings(sizes, lengths, cfg.batch_size, cfg.seed + epoch, cfg.group_by_length),
            collate_fn=collate,
        )
        for epoch in range(cfg.epochs)
    ]
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
    loaders = [accelerator.prepare_data_loader(loader) for loader in loaders]
    total_steps = sum(len(loader) for loader in loaders)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=total_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    model.train()
    bf16 = use_bf16(cfg.bf16)

    step = load_last_checkpoint(cfg.out, accelerator)["step"] if cfg.resume else 0
    progress = Progress(total_steps, cfg.events, "reward (grouped)", enabled=report)
    progress.emit("start", total_steps=total_steps, loss="grouped", rankings=len(sizes), resumed_at=step)
    last_loss = None
    done_before = 0
    with checked_at_step_ends():
        for loader in loaders:
            if step >= done_before + len(loader):
                done_before += len(loader)
                continue
            batches = accelerator.skip_first_batches(loader, step - done_before) if step > done_before else loader
            for batch in batches:
                # torch's autocast, not Accelerator(mixed_precision=...): that is fixed once per process, and
                # a process (the tests, a bench) may train several models with different settings.
                with torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=bf16):
                    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                rewards = logits[:, 0].float()  # (N,)
                loss = grouped_loss(
                    rewards,
                    batch["pair_index"],
                    batch["margins"],
                    batch["group_of_pair"],
                    int(batch["groups"]),
                    weighting=cfg.weighting,
                )
                accelerator.backward(loss)
                accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                step += 1
                correct, total = pair_accuracy(rewards.detach(), batch["pair_index"])
                last_loss = loss.item()
                progress.step(
                    step,
                    loss=last_loss,
                    accuracy=correct / total if total else None,
                    learning_rate=scheduler.get_last_lr()[0],
                )
                stop = requested() and step < total_steps
                if stop or (cfg.save_steps and step % cfg.save_steps == 0 and step < total_steps):
                    save_checkpoint(cfg.out, accelerator, step, progress)
                if stop:
                    raise RunStopped(step)
            done_before += len(loader)
    progress.close()
    return step, last_loss


# --- 4 train: pairwise, through TRL ---------------------------------------------------------------------


def pair_rows(tokens: _Tokens, margins: LossMargins) -> list[dict]:
    """Every pair of the rankings as a row of TRL's RewardTrainer: chosen_ids, rejected_ids, margin."""
    return [
        {"chosen_ids": answers[chosen], "rejected_ids": answers[rejected], "margin": margins.of(stated_margin)}
        for item, answers in tokens.rankings
        for chosen, rejected, stated_margin in pairs_of(item)
    ]


def _train_pairwise(
    cfg: RewardConfig, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, tokens: _Tokens, report: bool
) -> tuple[int, float | None]:
    """TRL's RewardTrainer on the pairs of the same rankings, already tokenised (so none is dropped)."""
    import trl

    rows = pair_rows(tokens, LossMargins(cfg.margin, cfg.margin_scale))
    args = trl.RewardConfig(
        **trl_arguments(cfg.out, seed=cfg.seed, save_steps=cfg.save_steps),
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=max(1, cfg.batch_size // 2),
        learning_rate=cfg.learning_rate,
        weight_decay=0.0,
        max_grad_norm=1.0,
        max_length=cfg.max_length,
        disable_dropout=cfg.disable_dropout,
        dataloader_drop_last=False,
    )
    reporter = ReportTrainerSteps(Progress(0, cfg.events, "reward (pairwise)", enabled=report))
    trainer = trl.RewardTrainer(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
        callbacks=[reporter],
    )
    quiet(trainer)
    train_reported(trainer, reporter, cfg.out, cfg.resume, cfg.epochs, loss="pairwise", pairs=len(rows))
    return trainer.state.global_step, reporter.last_loss


# --- 4 train: the head only ------------------------------------------------------------------------------


def _train_head(
    cfg: RewardConfig,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train: _Tokens,
    held_out: _Tokens,
    report: bool,
) -> tuple[MeanPooledReward, int, float, Scorer]:
    """The body read once over every distinct answer (train and held out), the head fitted on the training ones.

    Returns (the model as it will be saved and read, L-BFGS iterations, the fitted data loss, a scorer that
    looks the features up instead of reading the answers again)."""
    row_of: dict[tuple[int, ...], int] = {}
    for tokens in (train, held_out):
        for _, answers in tokens.rankings:
            for ids in answers:
                row_of.setdefault(tuple(ids), len(row_of))
    batches = math.ceil(len(row_of) / SCORE_BATCH)
    progress = Progress(batches, cfg.events, "reward (head): reading the answers", enabled=report)
    progress.emit("start", total_steps=batches, loss="head", rankings=len(train.rankings), answers=len(row_of))
    sequences = [list(ids) for ids in row_of]
    features = pooled_features(model, sequences, tokenizer.pad_token_id, use_bf16(cfg.bf16), progress)
    progress.close()

    def features_of(sequences: Sequence[list[int]]) -> torch.Tensor:
        return features[[row_of[tuple(ids)] for ids in sequences]]  # (N, H)

    flat = [ids for _, answers in train.rankings for ids in answers]
    margins = LossMargins(cfg.margin, cfg.margin_scale)
    items = [item for item, _ in train.rankings]
    weight, bias, loss, iterations = fit_head(features_of(flat), items, margins, cfg.weighting, cfg.head_l2)
    reward_model = install_head(model, weight, bias)
    head = score_head(model)
    return reward_model, iterations, loss, lambda sequences: head(features_of(sequences))[:, 0].detach()


# --- 5 evaluate -------------------------------------------------------------------------------------------


def _evaluate(score: Scorer, tokens: _Tokens) -> PairAccuracy:
    """Accuracy over every held-out pair (pair-weighted), each answer scored once."""
    if not tokens.rankings:
        return PairAccuracy(0, 0, 0.0)
    flat = [ids for _, answers in tokens.rankings for ids in answers]
    rewards = score(flat)  # (N,)
    _, _, pair_index, _, _ = batch_for_prompts([item for item, _ in tokens.rankings])
    return pair_accuracy_of(rewards[pair_index[:, 0]], rewards[pair_index[:, 1]])


def _longer_wins_on(rankings: list[RankedPrompt]) -> float | None:
    pairs = [(item.answers[c], item.answers[r]) for item in rankings for c, r, _ in pairs_of(item)]
    return longer_wins(pairs) if pairs else None


def _agreement_on(rankings: list[RankedPrompt]) -> dict[str, float | int | None]:
    """labeler stats' pairwise agreement, over these rankings (answers told apart by their text)."""
    answer_numbers: dict[int, dict[str, int]] = {}
    judgements = []
    for item in rankings:
        numbers = answer_numbers.setdefault(item.prompt_id, {})
        ids = [numbers.setdefault(text, len(numbers)) for text in item.answers]
        tiers = tuple(tuple(ids[index] for index in tier) for tier in item.tiers)
        judgements.append(RankedJudgement(item.annotator, item.prompt_id, tiers, None))
    agreement = pairwise_agreement(judgements)
    return {
        "eval_annotator_agreement": agreement.share if agreement else None,
        "eval_agreement_comparisons": agreement.comparisons if agreement else 0,
    }


def _shown_earlier_wins_on(rankings: list[RankedPrompt]) -> dict[str, float | int | None]:
    wins = total = 0
    for item in rankings:
        if item.shown_order is None:
            continue
        position = {answer: place for place, answer in enumerate(item.shown_order)}
        for chosen, rejected, _ in pairs_of(item):
            total += 1
            wins += position[chosen] < position[rejected]
    return {"eval_shown_earlier_wins": wins / total if total else None, "eval_shown_pairs": total}


def _reward_statistics(score: Scorer, tokens: _Tokens) -> tuple[float, float]:
    """Mean and standard deviation of the reward over the distinct training answers (PPO normalises with them)."""
    distinct = {}
    for item, answers in tokens.rankings:
        for text, ids in zip(item.answers, answers, strict=True):
            distinct.setdefault((item.prompt_id, text), ids)
    rewards = score(list(distinct.values())).double()  # (A,)
    std = float(rewards.std()) if len(rewards) > 1 else 0.0
    return float(rewards.mean()), std if math.isfinite(std) else 0.0
