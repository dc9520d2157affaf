"""The trainer's runs of a project, as the app lists them: each run folder and what its metrics.json says.

By default a project's runs live beside it, in `<project>.models/` (`labeler-train reward PROJECT --out
demo.models/rm-1`). A folder that holds a metrics.json is a finished run; one that holds a run's start
but no metrics.json yet is running, or stopped before the end (`--resume` continues it). Standard
library only: the app lists runs without importing the training stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

METRICS = "metrics.json"
# What a run folder holds from its start (see trainer.runs: the data copy, checkpoints, the step log).
STARTED_MARKS = ("checkpoints", "snapshot.db", "prompts.jsonl", "metrics.jsonl")


@dataclass(frozen=True)
class ModelRun:
    name: str
    folder: Path
    kind: str  # "reward model", "SFT policy", "PPO policy", "RLOO policy", or "unknown"
    finished: bool
    modified: datetime  # the folder's newest change (UTC)
    metrics: dict  # metrics.json, {} while unfinished or unreadable
    problem: str | None = None  # why metrics.json could not be read

    @property
    def headline(self) -> str:
        """The one figure that says how the run went, in words."""
        m = self.metrics
        if not self.finished:
            return self.problem or "not finished: running, or stopped (labeler-train … --resume continues it)"
        if self.kind == "reward model" and m.get("eval_accuracy") is not None:
            parts = [f"held-out accuracy {m['eval_accuracy']:.1%} on {m.get('eval_pairs', 0):,} pairs"]
            if m.get("eval_annotator_agreement") is not None:
                parts.append(f"annotators agree {m['eval_annotator_agreement']:.1%} (the ceiling)")
            if m.get("eval_longer_wins") is not None:
                parts.append(f"the longer answer wins {m['eval_longer_wins']:.1%}")
            if m.get("eval_shown_earlier_wins") is not None:
                parts.append(f"the answer shown earlier wins {m['eval_shown_earlier_wins']:.1%}")
            return "; ".join(parts)
        if self.kind == "SFT policy" and m.get("train_loss_after") is not None:
            return f"loss {m.get('train_loss_before', float('nan')):.3f} → {m['train_loss_after']:.3f}"
        if self.kind in ("PPO policy", "RLOO policy") and m.get("last_score") is not None:
            kl = f", KL {m['last_kl']:.3f}" if m.get("last_kl") is not None else ""
            first = m.get("first_score", float("nan"))
            return f"score {first:.3f} → {m['last_score']:.3f}{kl} in {m.get('steps')} steps"
        return ""


def default_models_folder(project: Path) -> Path:
    """Where a project's runs are kept unless the user picks another folder: `<project>.models/`."""
    return project.with_suffix(".models")


def list_runs(folder: Path) -> list[ModelRun]:
    """The runs in `folder`, newest first; folders that are not runs are left out."""
    if not folder.is_dir():
        return []
    runs = [run for child in folder.iterdir() if child.is_dir() and (run := _run(child)) is not None]
    return sorted(runs, key=lambda run: run.modified, reverse=True)


def _run(folder: Path) -> ModelRun | None:
    metrics_file = folder / METRICS
    started = metrics_file.is_file() or any((folder / mark).exists() for mark in STARTED_MARKS)
    if not started:
        return None
    metrics, problem = {}, None
    if metrics_file.is_file():
        try:
            metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            problem = f"{metrics_file}: cannot be read ({error})"
        if not isinstance(metrics, dict):
            metrics, problem = {}, f"{metrics_file}: not a JSON object"
    modified = max((path.stat().st_mtime for path in folder.iterdir()), default=folder.stat().st_mtime)
    return ModelRun(
        name=folder.name,
        folder=folder,
        kind=run_kind(metrics),
        finished=bool(metrics),
        modified=datetime.fromtimestamp(modified, UTC),
        metrics=metrics,
        problem=problem,
    )


def run_kind(metrics: dict) -> str:
    """Which command made a run, from the figures only it writes."""
    if "eval_accuracy" in metrics:
        return "reward model"
    if "train_loss_after" in metrics:
        return "SFT policy"
    if metrics.get("algo") in ("ppo", "rloo"):
        return f"{metrics['algo'].upper()} policy"
    return "unknown"
