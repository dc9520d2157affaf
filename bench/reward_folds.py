"""Reward-model settings compared by k-fold cross-validation on real human preferences (the HH dev set).

    python bench/reward_folds.py                                   # the defaults, 5 folds (about 20 minutes)
    python bench/reward_folds.py --run lr2e-5='{"learning_rate": 2e-5}' --run defaults='{}'
    python bench/reward_folds.py --hh-pairs 60 --folds 2           # a slice: the suite runs it

The 1,800 Anthropic HH-RLHF pairs of ../shared/data/hh-harmless-dev are imported with `labeler import`
and cut into K folds by prompt (`labeler-train reward --folds K --fold I`); each setting trains K times in
a process of its own, holding out each fold once, so every pair is judged exactly once by a model that
never saw it. The table gives the mean held-out accuracy ± its standard error over the folds, each
fold's accuracy, and, on the same pairs, "the shorter reply wins" and "the longer reply wins": a reward
model has to beat the shorter-wins rule (0.55 on HH) to have learned more than length.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reward_bench import HH_PAIRS, hh_project, run_in_own_process

from labeler.store import open_read_only
from trainer.data import pairs_of, ranked_prompts, split_into_folds


def length_baselines(project: Path, folds: int, seed: int) -> tuple[float, float]:
    """(shorter wins, longer wins) over every pair, each counted once in its held-out fold (ties count ½)."""
    with open_read_only(project) as store:
        rankings = ranked_prompts(store)
    shorter = longer = total = 0.0
    for fold in range(1, folds + 1):
        for item in split_into_folds(rankings, folds, fold, seed)[1]:
            for chosen, rejected, _ in pairs_of(item):
                a, b = len(item.answers[chosen]), len(item.answers[rejected])
                shorter += 1.0 if a < b else 0.5 if a == b else 0.0
                longer += 1.0 if a > b else 0.5 if a == b else 0.0
                total += 1
    return shorter / total, longer / total


def mean_and_error(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean over the folds."""
    error = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return statistics.fmean(values), error


def run_setting(project: Path, work: Path, name: str, settings: dict, args) -> str:
    accuracies, seconds, peaks = [], [], []
    for fold in range(1, args.folds + 1):
        metrics = run_in_own_process(
            project, work / f"{name}-{fold}", args.threads, folds=args.folds, fold=fold, seed=args.seed, **settings
        )
        accuracies.append(metrics["eval_accuracy"])
        seconds.append(metrics["train_seconds"])
        peaks.append(metrics["peak_gb"])
        print(f"#   {name} fold {fold}: {metrics['eval_accuracy']:.3f} in {metrics['train_seconds']:.0f} s", flush=True)
    mean, error = mean_and_error(accuracies)
    folds = " ".join(f"{value:.3f}" for value in accuracies)
    return (
        f"| {name} | `{json.dumps(settings)}` | **{mean:.3f} ± {error:.3f}** | {folds} | "
        f"{statistics.fmean(seconds):.0f} | {max(peaks):.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run",
        action="append",
        metavar="NAME=JSON",
        help="a setting to compare: a name and RewardConfig fields as JSON (default: defaults='{}')",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="the seed that shuffles the prompts into folds")
    parser.add_argument("--hh-pairs", type=int, help="the first N HH pairs only (a slice: the suite runs it)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    runs = {}
    for given in args.run or ["defaults={}"]:
        name, _, settings = given.partition("=")
        runs[name] = json.loads(settings or "{}")
    if not HH_PAIRS.is_file():
        raise SystemExit(f"{HH_PAIRS}: the HH dev set is not here")
    print(f"# reward folds, {time.strftime('%Y-%m-%d %H:%M')} UTC, {platform.node()}, {args.threads} threads")
    print(f"# load average at start {os.getloadavg()[0]:.2f} (other processes share the cores)\n")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        project = hh_project(work, args.hh_pairs)
        shorter, longer = length_baselines(project, args.folds, args.seed)
        lines = [
            f"| setting | RewardConfig | held-out accuracy, {args.folds}-fold | each fold | train s (mean) | peak GB |",
            "|---|---|---|---|---|---|",
        ]
        lines += [run_setting(project, work, name, settings, args) for name, settings in runs.items()]
    lines.append(
        f"\non the same pairs: the shorter reply wins {shorter:.3f}, the longer wins {longer:.3f}; "
        f"folds by prompt (seed {args.seed}); each fold trains in its own process on {args.threads} threads"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
