"""Stage 1 of the method: supervised fine-tuning on answers people wrote, through TRL's SFTTrainer.

train_sft(cfg) reads top to bottom:
  1 data      a snapshot of the project -> demonstrations (answers annotators wrote or rewrote), and with
              --include-best the top tier of every current ranking -> split by prompt
  2 model     the policy to tune: smollm2 or any causal LM folder
  3 train     TRL's SFTTrainer on prompt/completion conversations: the chat template renders them and
              only the completion's tokens are learnt (the prompt is context, not a target)
  4 evaluate  the loss on the held-out examples (and on the training ones) before and after
  5 save      the HF model folder and metrics.json
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging

from labeler.store import open_read_only
from labeler.store.bulk_reads import all_demonstrations
from trainer.configs import SFTConfig
from trainer.data import RankedPrompt, ranked_prompts, sha256_of, split_by_prompt
from trainer.errors import TrainerError
from trainer.events import Progress
from trainer.models import load_tokenizer, resolve_model_folder
from trainer.runs import (
    ReportTrainerSteps,
    check_output_folder,
    config_record,
    finish_run,
    output_snapshot,
    quiet,
    remove_new_output,
    train_reported,
    trl_arguments,
)


@dataclass(frozen=True)
class _Example:
    prompt_id: int
    prompt: str | list[dict]
    completion: str
    origin: str  # "written" (a demonstration) or "best" (the top tier of a ranking)


def train_sft(cfg: SFTConfig) -> dict:
    """Fine-tune, evaluate and save as `cfg` says; return the metrics written to metrics.json."""
    import trl

    started = time.monotonic()
    out = Path(cfg.out)
    _check(cfg)
    if cfg.events or not sys.stderr.isatty():
        hf_logging.disable_progress_bar()
        datasets.disable_progress_bars()

    # 1 data
    snapshot = output_snapshot(cfg.project, out, cfg.resume)
    digest = sha256_of(snapshot)
    try:
        train, held_out = _split_examples(cfg, snapshot)
        # 2 model
        folder = resolve_model_folder(cfg.base)
        tokenizer = load_tokenizer(folder)
        if not tokenizer.chat_template:
            raise TrainerError(f"{folder}: the tokenizer has no chat template, so a conversation cannot be rendered")
    except TrainerError:
        if not cfg.resume:
            remove_new_output(out, snapshot)  # so the corrected command can use the same --out
        raise
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)

    # 3 train (what is longer than max_length is cut at its end by TRL: counted here, not silently)
    examples_cut = sum(_length(tokenizer, example) > cfg.max_length for example in train)
    args = trl.SFTConfig(
        **trl_arguments(out, seed=cfg.seed, save_steps=cfg.save_steps),
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        max_length=cfg.max_length,
        # Prompt/completion data: the loss is on the completion only.
        completion_only_loss=True,
    )
    reporter = ReportTrainerSteps(Progress(0, cfg.events, "sft", enabled=True))
    trainer = trl.SFTTrainer(
        model=model,
        args=args,
        train_dataset=_dataset(train),
        eval_dataset={"train": _dataset(train), **({"eval": _dataset(held_out)} if held_out else {})},
        processing_class=tokenizer,
        callbacks=[reporter],
    )
    quiet(trainer)
    before = _losses(trainer)
    train_reported(trainer, reporter, out, cfg.resume, cfg.epochs, examples=len(train))

    # 4 evaluate
    after = _losses(trainer)

    # 5 save
    metrics = {
        "train_examples": len(train),
        "written_examples": sum(example.origin == "written" for example in train),
        "best_examples": sum(example.origin == "best" for example in train),
        "eval_examples": len(held_out),
        "examples_cut": examples_cut,
        "train_loss_before": before["train"],
        "train_loss_after": after["train"],
        "eval_loss_before": before.get("eval"),
        "eval_loss_after": after.get("eval"),
        "steps": trainer.state.global_step,
        "seconds": round(time.monotonic() - started, 3),
        "base": str(cfg.base),
        "base_folder": str(folder),
        "snapshot_sha256": digest,
        "config": config_record(cfg),
    }
    trainer.save_model(str(out))
    tokenizer.save_pretrained(out)
    finish_run(out, metrics, snapshot)
    return metrics


def _check(cfg: SFTConfig) -> None:
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.max_length < 16 or cfg.learning_rate <= 0:
        raise TrainerError("--epochs ≥ 1, --batch-size ≥ 1, --max-length ≥ 16 and --learning-rate > 0, please")
    if not Path(cfg.project).is_file():
        raise TrainerError(f"{cfg.project}: no such project file")
    check_output_folder(Path(cfg.out), cfg.resume)


def _split_examples(cfg: SFTConfig, snapshot: Path) -> tuple[list[_Example], list[_Example]]:
    with open_read_only(snapshot) as store:
        examples = _examples(store, cfg)
    if not examples:
        what = "written answers or ranked judgements" if cfg.include_best else "written answers (demonstrations)"
        hint = "" if cfg.include_best else "; --include-best also learns the top-ranked answers"
        raise TrainerError(f"{cfg.project}: no {what} to learn from{hint}")
    try:
        return split_by_prompt(examples, cfg.eval_fraction, cfg.seed)
    except ValueError as error:
        raise TrainerError(f"{cfg.project}: {error} (use --eval-fraction 0 to train on it anyway)") from None


def _examples(store, cfg: SFTConfig) -> list[_Example]:
    """Demonstrations first, then (with include_best) each current ranking's best answers, each (prompt,
    answer) once: a best answer an annotator also wrote out is not learnt twice."""
    annotators = list(cfg.annotators) or None
    written = all_demonstrations(store, annotators)
    prompts = store.prompts([prompt_id for prompt_id, _, _ in written])
    examples, seen = [], set()
    for prompt_id, text, _ in written:
        if (prompt_id, text) not in seen:
            seen.add((prompt_id, text))
            examples.append(_Example(prompt_id, prompts[prompt_id].content, text, "written"))
    if cfg.include_best:
        for item in ranked_prompts(store, annotators, list(cfg.rounds) or None):
            for answer in _best_answers(item):
                if (item.prompt_id, answer) not in seen:
                    seen.add((item.prompt_id, answer))
                    examples.append(_Example(item.prompt_id, item.prompt, answer, "best"))
    return examples


def _best_answers(item: RankedPrompt) -> list[str]:
    return [item.answers[index] for index in item.tiers[0]]


def _dataset(examples: list[_Example]) -> datasets.Dataset:
    """TRL's conversational prompt/completion format: the template renders both, the loss is on the completion."""
    return datasets.Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": e.prompt}] if isinstance(e.prompt, str) else list(e.prompt),
                "completion": [{"role": "assistant", "content": e.completion}],
            }
            for e in examples
        ]
    )


def _length(tokenizer, example: _Example) -> int:
    """Tokens of the example as the chat template renders it."""
    prompt = [{"role": "user", "content": example.prompt}] if isinstance(example.prompt, str) else list(example.prompt)
    chat = [*prompt, {"role": "assistant", "content": example.completion}]
    return len(tokenizer.apply_chat_template(chat, tokenize=True, return_dict=True)["input_ids"])


def _losses(trainer) -> dict[str, float]:
    """The mean completion loss on each evaluation set, e.g. {"train": 2.1, "eval": 2.4}."""
    results = trainer.evaluate()
    return {name: results[f"eval_{name}_loss"] for name in trainer.eval_dataset}
