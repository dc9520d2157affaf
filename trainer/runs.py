"""A training run's output folder, the same for reward, sft and ppo, and what they share with TRL.

    out/                  the model (a Hugging Face folder), metrics.json, the method's own logs
    out/<data copy>       the snapshot (reward, sft) or prompts.jsonl (ppo) the run reads, kept while it
                          trains so that --resume sees the very same data
    out/checkpoints/      step-N/ from our own loops (accelerate's state; progress.json written last, so a
                          checkpoint without it was interrupted and is ignored) or checkpoint-N/ from TRL's
A finished run has metrics.json and neither checkpoints nor the data copy.
"""

from __future__ import annotations

import json
import shutil
import warnings
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from transformers import TrainerCallback

from trainer.data import snapshot_project
from trainer.errors import TrainerError
from trainer.events import Progress

SNAPSHOT_NAME = "snapshot.db"
CHECKPOINTS = "checkpoints"
KEEP_CHECKPOINTS = 2  # the newest two: the last one may be half written when a run is killed


# --- the folder ---------------------------------------------------------------------------------------------------


def check_output_folder(out: Path, resume: bool) -> None:
    """A training run writes into a new or empty folder, or resumes the run stopped there."""
    out = Path(out)
    if not resume and out.is_dir() and any(out.iterdir()):
        raise TrainerError(f"{out}: the folder is not empty (choose a new one, or --resume a run stopped there)")


def output_snapshot(project: Path, out: Path, resume: bool) -> Path:
    """The project's snapshot kept in a run's output folder while it trains, so --resume sees the very same
    data: taken now, or (resuming) the one the run started with."""
    kept = Path(out) / SNAPSHOT_NAME
    if not (resume and kept.is_file()):
        copy, _ = snapshot_project(project, Path(out))
        copy.replace(kept)
    return kept


def remove_new_output(out: Path, snapshot: Path) -> None:
    """Undo what a training run wrote before it failed: its snapshot, and `out` itself if that leaves it
    empty, so the corrected command can use the same output folder."""
    snapshot.unlink(missing_ok=True)
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()


def config_record(config: Any) -> dict:
    """A run's configuration as metrics.json holds it (paths as text)."""
    return json.loads(json.dumps(asdict(config), default=str))


def finish_run(out: Path, metrics: dict, data_copy: Path) -> None:
    """Write metrics.json, then drop what only an unfinished run needs: the checkpoints (the optimiser state
    alone is twice the model) and the copy of the data."""
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    data_copy.unlink(missing_ok=True)


# --- the logs of a run that goes step by step (ppo) ------------------------------------------------------------


def append_jsonl(path: Path, row: dict) -> None:
    """One line of a run's log (metrics.jsonl, samples.jsonl)."""
    with path.open("a", encoding="utf-8") as file:
        file.write(json.dumps(row, ensure_ascii=False) + "\n")


def cut_logs(out: Path, step: int) -> None:
    """Keep only the lines of metrics.jsonl and samples.jsonl of steps up to `step` (all of them on a new run: none)."""
    for name in ("metrics.jsonl", "samples.jsonl"):
        path = out / name
        if path.is_file():
            kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
            path.write_text("".join(line + "\n" for line in kept))


# --- checkpoints of our own loops (reward --loss grouped, ppo) ----------------------------------------------------


def checkpoints(out: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (their progress.json written last), oldest first."""
    found = []
    for folder in (Path(out) / CHECKPOINTS).glob("step-*"):
        if (folder / "progress.json").is_file():
            found.append((json.loads((folder / "progress.json").read_text())["step"], folder))
    return sorted(found)


def save_checkpoint(out: Path, accelerator: Accelerator, step: int, progress: Progress, **state: Any) -> None:
    """Model, optimiser, scheduler (registered) and every random generator, then progress.json with the step
    and `state` (what else the loop needs to go on), then the older checkpoints go."""
    folder = Path(out) / CHECKPOINTS / f"step-{step}"
    accelerator.save_state(str(folder))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (folder / "progress.json").write_text(json.dumps({"step": step, **state}))
        for _, old in checkpoints(out)[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old, ignore_errors=True)
    progress.emit("checkpoint", step=step, path=str(folder))


def load_last_checkpoint(out: Path, accelerator: Accelerator) -> dict:
    """Restore the newest complete checkpoint into the prepared objects; its progress.json ("step", ...)."""
    found = checkpoints(out)
    if not found:
        raise _nothing_to_resume(out)
    _, folder = found[-1]
    accelerator.load_state(str(folder))
    return json.loads((folder / "progress.json").read_text())


# --- what the TRL-backed methods share (reward --loss pairwise, sft, ppo --algo rloo) -----------------------------


def trl_checkpoint_to_resume(out: Path, resume: bool) -> Path | None:
    """The TRL checkpoint a --resume continues from (None without --resume); an error if there is none."""
    if not resume:
        return None
    found = list((Path(out) / CHECKPOINTS).glob("checkpoint-*"))
    if not found:
        raise _nothing_to_resume(out)
    return max(found, key=lambda folder: int(folder.name.split("-")[1]))


def trl_arguments(out: Path, *, seed: int, save_steps: int, logging_steps: int = 1) -> dict[str, Any]:
    """The arguments every TRL config of ours shares: checkpoints in out/checkpoints (every `save_steps`
    steps, 0 for none, the newest KEEP_CHECKPOINTS kept), no reporting integrations, no tqdm (our Progress
    draws the bar or writes the events), and a linear schedule. TRL's defaults are for big models on GPUs
    (bf16, activation checkpointing): on the CPU they are slower and inexact, on a GPU bf16 is worth it where
    the GPU computes it (from Ampere on; transformers refuses bf16 on an older one)."""
    on_gpu = torch.cuda.is_available()
    return {
        "output_dir": str(Path(out) / CHECKPOINTS),
        "seed": seed,
        "lr_scheduler_type": "linear",
        "logging_steps": logging_steps,
        "save_strategy": "steps" if save_steps else "no",
        "save_steps": save_steps or 500,
        "save_total_limit": KEEP_CHECKPOINTS,
        "report_to": [],
        "disable_tqdm": True,
        "bf16": on_gpu and torch.cuda.is_bf16_supported(),
        "activation_checkpointing": False,
        "use_cpu": not on_gpu,
    }


def quiet(trainer) -> None:
    """A Trainer without tqdm prints each step's log dict on stdout: stdout is for the events."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


@contextmanager
def peft_deprecation_hidden():
    """peft 0.21 and TRL 1.16 read `is_gradient_checkpointing`, which transformers 5 deprecates: a warning about
    the libraries' own code, not the user's to act on, printed on every LoRA run."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def lora_config(rank: int, alpha: int):
    """LoRA adapters on every linear layer of a causal language model (the policy), without dropout."""
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")


class ReportTrainerSteps(TrainerCallback):
    """A Hugging Face Trainer's (TRL's) log of each step, passed on to a Progress (the trainer is `quiet`)."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.last_loss: float | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.last_loss = logs["loss"]
            self.progress.step(
                state.global_step,
                loss=logs["loss"],
                accuracy=logs.get("accuracy", logs.get("mean_token_accuracy")),
                learning_rate=logs.get("learning_rate"),
            )

    def on_save(self, args, state, control, **kwargs):
        self.progress.emit(
            "checkpoint", step=state.global_step, path=f"{args.output_dir}/checkpoint-{state.global_step}"
        )


def train_reported(trainer, reporter: ReportTrainerSteps, out: Path, resume: bool, epochs: int, **start: Any) -> None:
    """Train a quiet TRL trainer for `epochs` (from the newest checkpoint in `out` with `resume`), reported
    through `reporter`: a "start" event with the number of steps and the `start` fields, each step, the end."""
    reporter.progress.set_total(len(trainer.get_train_dataloader()) * epochs)
    reporter.progress.emit("start", total_steps=reporter.progress.total_steps, **start)
    resume_from = trl_checkpoint_to_resume(out, resume)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    reporter.progress.close()


def _nothing_to_resume(out: Path) -> TrainerError:
    return TrainerError(f"{out}: no checkpoint to resume from")
