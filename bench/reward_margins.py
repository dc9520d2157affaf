"""How a stated strength should enter the reward loss (`labeler-train reward --margin none | scaled`), measured.

    python bench/reward_margins.py                      # the HH dev set and simulated annotators (about 3 minutes)
    python bench/reward_margins.py --hh-pairs 40 --repeats 1   # a slice: the suite runs it

The HH dev set states no strength, so on it `none` and `scaled` train identically; what it can show is
what the old default cost: a margin of 2 on every pair ("better", stored for every unstated step). The
question a default has to answer is what happens when annotators do state strengths: are they worth a
margin in logits? For that, simulated annotators judge the HH answers:

  - a hidden "true" reward: a Bradley–Terry linear head fitted to all the HH pairs on frozen MiniLM
    features (the mean and the first token of the last layer);
  - an annotator ranks answers by the true reward plus Gumbel noise (so a pair's choice is Bradley–Terry),
    the noise set so that annotators agree with the true order on 73% of pairs (InstructGPT's agreement
    between labellers: 72.6%); pairs (K = 2, each HH pair) and rankings of K = 4 HH answers;
  - informative strengths: each step's strength is 1, 2 or 3 by the tertile of its true reward gap;
    noise strengths: 1, 2 or 3 at random.

Each setting trains a linear reward head on frozen MiniLM features (the mean of the last layer only, so
the learner cannot copy the hidden reward) with the trainer's own margin and loss code
(`trainer.reward_loss`: LossMargins, batch_for_prompts, grouped_loss), 5-fold by prompt; the table gives
held-out accuracy on the annotators' pairs and on the true order, mean ± standard error over the folds
and repeats. A linear head on frozen features is what makes this cheap enough to repeat; it is not the
fine-tuned model, so the figures compare margin settings with each other, not with reward_folds.py's.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from frozen_features import cross_validate, fit_head, hidden_features, judged, real_items, summary
from reward_bench import HH_PAIRS, hh_project

from labeler.store import open_read_only
from trainer.data import ranked_prompts
from trainer.reward_loss import LossMargins

AGREEMENT = 0.73  # annotators agree with the true order on this share of pairs (InstructGPT: 72.6%)
WEIGHT_DECAY = 1.0  # L2 on the head: on HH's own labels, 1e-3 / 1e-2 / 0.1 / 1 held out 0.566 / 0.591 / 0.597 / 0.612
SETTINGS = {
    "none": LossMargins("none"),
    "scaled 0.5": LossMargins("scaled", 0.5),
    "scaled 1": LossMargins("scaled", 1.0),
}


def simulated_items(groups: list[list[int]], truth: torch.Tensor, beta: float, informative: bool, rng) -> list:
    """Each group of feature rows ranked by a simulated annotator: true reward × beta plus Gumbel noise."""
    # Tertiles of the gaps between neighbours in the true order: the steps an annotator states strengths for.
    gaps = []
    for group in groups:
        ordered = sorted(float(truth[row]) for row in group)
        gaps += [high - low for low, high in itertools.pairwise(ordered)]
    thirds = statistics.quantiles(gaps, n=3)
    items = []
    for number, group in enumerate(groups):
        noisy = [beta * float(truth[row]) - math.log(-math.log(rng.random())) for row in group]
        order = sorted(range(len(group)), key=lambda i: -noisy[i])
        strengths = []
        for better, worse in itertools.pairwise(order):
            gap = abs(float(truth[group[better]] - truth[group[worse]]))
            strengths.append(1 + sum(gap > cut for cut in thirds) if informative else rng.randint(1, 3))
        items.append(judged(group, number, order, strengths))
    return items


def calibrated_beta(truth: torch.Tensor, pairs: list[tuple[int, int]]) -> float:
    """The beta at which a Bradley–Terry annotator agrees with the true order on AGREEMENT of `pairs`."""
    gaps = torch.tensor([abs(float(truth[a] - truth[b])) for a, b in pairs])
    low, high = 0.0, 100.0
    for _ in range(60):
        beta = (low + high) / 2
        low, high = (beta, high) if torch.sigmoid(beta * gaps).mean() < AGREEMENT else (low, beta)
    return (low + high) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="simulated annotator panels per scenario")
    parser.add_argument("--hh-pairs", type=int, help="the first N HH pairs only (a slice: the suite runs it)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not HH_PAIRS.is_file():
        raise SystemExit(f"{HH_PAIRS}: the HH dev set is not here")
    print(f"# reward margins, {time.strftime('%Y-%m-%d %H:%M')} UTC, {platform.node()}, {args.threads} threads")
    print(f"# load average at start {os.getloadavg()[0]:.2f} (other processes share the cores)\n")
    with tempfile.TemporaryDirectory() as folder, open_read_only(hh_project(Path(folder), args.hh_pairs)) as store:
        rankings = ranked_prompts(store)
    started = time.monotonic()
    torch.set_num_threads(args.threads)
    features, row_of = hidden_features(rankings, "minilm", layers=[-1])
    mean, first = features[-1, "mean"], features[-1, "first"]
    print(f"# features of {len(row_of)} answers in {time.monotonic() - started:.0f} s", flush=True)
    lines = [
        "| annotators | strengths | margin | held-out accuracy (their labels) | on the true order |",
        "|---|---|---|---|---|",
    ]
    for name, stated, margins in (("HH (people)", None, LossMargins("none")), ("HH (people)", 2, SETTINGS["scaled 1"])):
        own, _ = cross_validate(mean, real_items(rankings, row_of, stated), margins, WEIGHT_DECAY, args.folds, 0)
        described = "none stated" if stated is None else "2 on every step (the old default)"
        lines.append(f"| {name} | {described} | {'none' if stated is None else 'scaled 1'} | {summary(own)} | |")
        print(lines[-1], flush=True)

    both = torch.cat([mean, first], dim=1)
    people = real_items(rankings, row_of)
    truth = both @ fit_head(both, people, LossMargins("none"), WEIGHT_DECAY)  # the hidden reward
    hh_pairs = [(int(item.answers[0]), int(item.answers[1])) for item in people]
    beta = calibrated_beta(truth, hh_pairs)
    rows = list(range(len(truth)))
    for k in (2, 4):
        for informative in (True, False):
            results = {name: ([], []) for name in SETTINGS}
            for repeat in range(args.repeats):
                rng = random.Random(repeat)
                if k == 2:
                    groups = [list(pair) for pair in hh_pairs]
                else:
                    shuffled = rng.sample(rows, len(rows))
                    groups = [shuffled[i : i + 4] for i in range(0, len(shuffled) - 3, 4)]
                items = simulated_items(groups, truth, beta, informative, rng)
                truths = [judged(g, n, sorted(range(len(g)), key=lambda i: -float(truth[g[i]])), [None] * (len(g) - 1))
                          for n, g in enumerate(groups)]  # fmt: skip
                for name, margins in SETTINGS.items():
                    own, true = cross_validate(mean, items, margins, WEIGHT_DECAY, args.folds, repeat, truths)
                    results[name][0].extend(own)
                    results[name][1].extend(true)
            for name, (own, true) in results.items():
                strengths = "informative" if informative else "noise"
                lines.append(f"| simulated, K = {k} | {strengths} | {name} | {summary(own)} | {summary(true)} |")
                print(lines[-1], flush=True)
    print("\n" + "\n".join(lines))
    print(
        f"\n{args.folds}-fold by prompt; simulated: {args.repeats} annotator panels, agreement with the true order "
        f"{AGREEMENT} (beta {beta:.2f}); a linear head on frozen MiniLM features, L2 {WEIGHT_DECAY}; "
        f"{time.monotonic() - started:.0f} s in all"
    )


if __name__ == "__main__":
    main()
