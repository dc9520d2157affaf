"""Where a frozen model keeps what HH's people preferred: linear probes by layer and pooling, 5-fold.

    python bench/reward_probes.py --base smollm2                      # about 12 minutes, nearly all features
    python bench/reward_probes.py --base minilm --hh-pairs 30 --l2 1  # a slice: the suite runs it

Every HH answer is read once by the frozen `--base` (as the reward trainer reads it, bf16 autocast), its
hidden states kept at a few layers and pooled three ways over the tokens: the mean, the first token
(BERT's [CLS]; in a causal model every answer's first token is the same, so its probe ties every pair:
about 0.02) and the last (what a causal model's score head reads). A Bradley–Terry linear head with
L2 is then fitted to each, 5-fold by prompt (frozen_features.py), at each L2 strength. The table tells
which layer and pooling a head-only or lightly tuned reward model should read before one is built: a
probe takes seconds where fine-tuning a fold takes minutes.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from frozen_features import POOLINGS, cross_validate, hidden_features, real_items, summary
from reward_bench import HH_PAIRS, hh_project

from labeler.store import open_read_only
from trainer.data import ranked_prompts
from trainer.models import load_reward_model
from trainer.reward_loss import LossMargins


def default_layers(base: str) -> list[int]:
    """Half, two thirds, five sixths of the way up, and the last layer."""
    depth = load_reward_model(base)[0].config.num_hidden_layers
    return sorted({depth // 2, 2 * depth // 3, 5 * depth // 6, depth})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="smollm2", help="minilm | smollm2 | a local model folder")
    parser.add_argument("--layers", help="comma-separated layer numbers (default: 1/2, 2/3, 5/6 of the way, last)")
    parser.add_argument("--l2", default="0.1,0.3,1", help="comma-separated L2 strengths of the head")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--hh-pairs", type=int, help="the first N HH pairs only (a slice: the suite runs it)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not HH_PAIRS.is_file():
        raise SystemExit(f"{HH_PAIRS}: the HH dev set is not here")
    torch.set_num_threads(args.threads)
    strengths = [float(value) for value in args.l2.split(",")]
    layers = [int(value) for value in args.layers.split(",")] if args.layers else default_layers(args.base)
    print(f"# reward probes, {time.strftime('%Y-%m-%d %H:%M')} UTC, {platform.node()}, {args.threads} threads")
    print(f"# load average at start {os.getloadavg()[0]:.2f} (other processes share the cores)\n")
    with tempfile.TemporaryDirectory() as folder, open_read_only(hh_project(Path(folder), args.hh_pairs)) as store:
        rankings = ranked_prompts(store)
    started = time.monotonic()
    bf16 = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()  # elsewhere it is emulated
    features, row_of = hidden_features(rankings, args.base, layers, args.max_length, bf16)
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"# features of {len(row_of)} answers in {seconds:.0f} s, peak {peak:.1f} GB", flush=True)
    people = real_items(rankings, row_of)
    lines = [
        f"| layer | pooling | {' | '.join(f'L2 {value:g}' for value in strengths)} |",
        "|---|---|" + "---|" * len(strengths),
    ]
    for layer in layers:
        for pooling in POOLINGS:
            cells = [
                summary(cross_validate(features[layer, pooling], people, LossMargins(), l2, args.folds, 0)[0])
                for l2 in strengths
            ]
            lines.append(f"| {layer} | {pooling} | {' | '.join(cells)} |")
            print(lines[-1], flush=True)
    print("\n" + "\n".join(lines))
    print(
        f"\n{args.base}, {len(people)} HH rankings, held-out accuracy {args.folds}-fold by prompt (mean ± standard "
        f"error); features {seconds:.0f} s (bf16 autocast {'on' if bf16 else 'off'}), "
        f"{time.monotonic() - started:.0f} s in all"
    )


if __name__ == "__main__":
    main()
