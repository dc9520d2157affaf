"""A tuned policy against its parent, in the annotators' own rankings: what the Models tab says of a policy run.

`labeler-train generate` stores a policy's answers under its folder's name (smollm2 for the embedded one),
and a round's task carries the previous round's best answer, so the answers of a tuned policy meet those of
the policy it started from. The Bradley-Terry ratings of `labeler stats` (labeler.report) then say whether
the annotators prefer it. Standard library only: the Models tab computes the report on a worker and words
it here.
"""

from __future__ import annotations

from pathlib import Path

from labeler.model_runs import ModelRun
from labeler.wording import counted

ELO_POINTS_PER_TENFOLD_ODDS = 400  # the report's rating scale (labeler.statistics)


def parent_model_name(metrics: dict) -> str | None:
    """The name the parent policy's answers carry: PPO's and RLOO's `policy` or SFT's `base`, as generate names
    a policy (the embedded smollm2 by that name, a folder by its own name)."""
    parent = metrics.get("policy", metrics.get("base"))
    if not isinstance(parent, str) or not parent:
        return None
    return parent if parent == "smollm2" else Path(parent).name


def rating_against_parent(run: ModelRun, models: list[dict]) -> str | None:
    """One line for a finished policy run: its rating beside its parent's, and how often the annotators would
    prefer its answer by those ratings; what is missing when it cannot be said. None for a reward model."""
    if run.kind not in ("SFT policy", "PPO policy", "RLOO policy") or not run.finished:
        return None
    rated = {row["model"]: row for row in models}
    mine, parent = rated.get(run.name), parent_model_name(run.metrics)
    if mine is None:
        return f"not rated yet: rank answers generated with {run.name} (Train ▸ Generate answers, then label)"
    if parent is None or parent not in rated:
        return f"rated {_rating(mine)}; its parent {parent or '(unknown)'} has no ranked answers to compare with"
    gap = mine["rating"] - rated[parent]["rating"]
    preferred = 1 / (1 + 10 ** (-gap / ELO_POINTS_PER_TENFOLD_ODDS))
    return (
        f"rated {_rating(mine)} against its parent {parent} {_rating(rated[parent])}: its answer preferred "
        f"{preferred:.0%} of the time, from {counted(mine['battles'], 'battle')}"
    )


def _rating(row: dict) -> str:
    interval = f" ({row['rating_low']:.0f}–{row['rating_high']:.0f})" if row.get("rating_low") is not None else ""
    return f"{row['rating']:.0f}{interval}"
