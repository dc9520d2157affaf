"""The reward trainer's two losses, and the two embedded base models, on data whose truth is known.

    python bench/reward_bench.py                 # grouped vs TRL's RewardTrainer on a tiny model
    python bench/reward_bench.py --bases         # minilm vs smollm2 as the base (minutes on a CPU)
    python bench/reward_bench.py --real          # ours vs TRL's RewardTrainer on real human preferences (HH)

Part 1, losses. Synthetic K = 4 rankings: each answer's text carries a hidden quality (q = the number of
"good" words minus the number of "bad" ones, times 0.8), and a simulated annotator ranks each prompt's
answers by Plackett–Luce sampling with weights exp(q) -- the ranking form of the Bradley–Terry model --
so the labels are noisy the way people are. Both losses train the same tiny model from the same weights
on the same rankings for one epoch with the same optimiser settings and the same answers per step;
the table gives the training time (step 4 of train_reward alone), pairs per second, held-out accuracy,
and the best accuracy possible: the share of held-out pairs whose label agrees with the hidden
quality (a model that knew q exactly could do no better on these labels).

Part 2, bases. Realistic answers to questions about countries' capitals: correct and helpful (best),
correct but curt, wrong, and an off-topic or rude reply (worst), ranked by the same simulated annotator.
Each base trains for one epoch; the table gives held-out accuracy, minutes, and accuracy per minute.

Part 3, real text (--real). The 1,800 Anthropic HH-RLHF pairs of ../shared/data/hh-harmless-dev, imported
with `labeler import`, and K = 4 rankings of the same real-length text: a prompt's chosen and rejected
replies above two replies to other prompts (tied: off-topic, the worst). Each trainer runs in a process
of its own, so its peak memory is its own: ours (--loss grouped) against TRL's RewardTrainer on the same
tokens (--loss pairwise), same base (all-MiniLM-L6-v2), learning rate, epochs and sequences per step.
The held-out accuracy is on 25% of the prompts (450 HH pairs: ±2.3 points), with "the shorter reply
wins" beside it on the same pairs.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import torch
from tiny_models import make_tokenizer, tiny_config

from labeler.domain import Judgement, Ranking
from labeler.store import NewAnswer, open_read_only, open_store
from trainer.data import pairs_of, ranked_prompts, split_by_prompt
from trainer.reward import RewardConfig, train_reward

GOOD, BAD = ["clear", "correct", "helpful", "kind"], ["wrong", "rude", "vague", "late"]
FILLER = ["apple", "river", "stone", "cloud", "tiger", "lamp", "sugar", "wind", "paper", "glass", "honey", "field"]
SCALE = 0.8  # hidden quality per good word: how sure the simulated annotator is


def plackett_luce(qualities: list[float], rng: random.Random) -> list[int]:
    """A ranking (indices, best first) drawn with P(next = i) ∝ exp(q_i) among those not yet placed."""
    left, order = list(range(len(qualities))), []
    while left:
        weights = [math.exp(qualities[i]) for i in left]
        pick = rng.choices(left, weights)[0]
        order.append(pick)
        left.remove(pick)
    return order


def write_project(path: Path, rows: list[tuple[str, list[str], list[float]]], seed: int) -> None:
    """Store each prompt with its answers and one simulated ranking; the true qualities go into metadata."""
    rng = random.Random(seed)
    with open_store(path, create=True) as store:
        for prompt, answers, qualities in rows:
            prompt_id, ids = store.add_prompt(prompt, [NewAnswer(text) for text in answers], metadata={"q": qualities})
            order = plackett_luce(qualities, rng)
            ranking = Ranking.of([[ids[i]] for i in order])
            store.record_judgement(prompt_id, "simulated", Judgement.ranked(ranking), list(ids))


def synthetic_rows(count: int, seed: int) -> list[tuple[str, list[str], list[float]]]:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        prompt = f"task {index}: write about " + " ".join(rng.sample(FILLER, 3))
        answers, qualities = [], []
        for _ in range(4):
            good, bad = rng.randint(0, 4), rng.randint(0, 4)
            words = rng.choices(FILLER, k=8) + rng.choices(GOOD, k=good) + rng.choices(BAD, k=bad)
            rng.shuffle(words)
            answers.append(" ".join(words))
            qualities.append(SCALE * (good - bad))
        rows.append((prompt, answers, qualities))
    return rows


CAPITALS = {
    "France": ("Paris", "Lyon"),
    "Germany": ("Berlin", "Munich"),
    "Italy": ("Rome", "Milan"),
    "Spain": ("Madrid", "Barcelona"),
    "Japan": ("Tokyo", "Osaka"),
    "Canada": ("Ottawa", "Toronto"),
    "Australia": ("Canberra", "Sydney"),
    "Brazil": ("Brasília", "Rio de Janeiro"),
    "Egypt": ("Cairo", "Alexandria"),
    "Kenya": ("Nairobi", "Mombasa"),
    "India": ("New Delhi", "Mumbai"),
    "Turkey": ("Ankara", "Istanbul"),
    "Poland": ("Warsaw", "Kraków"),
    "Norway": ("Oslo", "Bergen"),
    "Peru": ("Lima", "Cusco"),
    "Vietnam": ("Hanoi", "Ho Chi Minh City"),
    "Morocco": ("Rabat", "Casablanca"),
    "Switzerland": ("Bern", "Zurich"),
    "New Zealand": ("Wellington", "Auckland"),
    "Nigeria": ("Abuja", "Lagos"),
}
QUESTIONS = ["What is the capital of {c}?", "Which city is the capital of {c}?", "Tell me the capital city of {c}."]
HELPFUL = [
    "The capital of {c} is {right}. It is also where the national government sits.",
    "{right} is the capital of {c}; it hosts the country's parliament and main ministries.",
]
CURT = ["{right}.", "It's {right}."]
WRONG = ["The capital of {c} is {wrong}.", "{wrong} is the capital of {c}, its largest and best-known city."]
POOR = ["I don't know, look it up yourself.", "Capitals are boring. Ask me something else.", "Bananas are yellow."]


def capital_rows(count: int, seed: int) -> list[tuple[str, list[str], list[float]]]:
    rng = random.Random(seed)
    countries = list(CAPITALS)
    rows = []
    for index in range(count):
        country = countries[index % len(countries)]
        right, wrong = CAPITALS[country]
        # Numbered: the same question twice would be one prompt in the project (prompts are kept by content).
        prompt = f"Quiz question {index + 1}. " + rng.choice(QUESTIONS).format(c=country)
        kinds = [(HELPFUL, 2.4), (CURT, 1.6), (WRONG, 0.0), (POOR, -0.8)]
        answers = [rng.choice(texts).format(c=country, right=right, wrong=wrong) for texts, _ in kinds]
        rows.append((prompt, answers, [quality for _, quality in kinds]))
    return rows


def best_possible_accuracy(project: Path, eval_fraction: float, seed: int) -> float:
    """On the held-out pairs: the share whose label agrees with the hidden quality (a tie in q counts ½)."""
    with open_read_only(project) as store:
        _, held_out = split_by_prompt(ranked_prompts(store), eval_fraction, seed)
        qualities = {}
        for prompt_id, metadata in store.conn.execute("SELECT id, metadata FROM prompts"):
            qualities[prompt_id] = json.loads(metadata)["q"]
        texts = {}
        for prompt_id, text, position in store.conn.execute(
            "SELECT prompt_id, text, row_number() OVER (PARTITION BY prompt_id ORDER BY id) - 1 FROM answers"
        ):
            texts[(prompt_id, text)] = position
    agree = total = 0.0
    for item in held_out:
        q = [qualities[item.prompt_id][texts[(item.prompt_id, text)]] for text in item.answers]
        for chosen, rejected, _ in pairs_of(item):
            agree += 1.0 if q[chosen] > q[rejected] else 0.5 if q[chosen] == q[rejected] else 0.0
            total += 1
    return agree / total


def tiny_base(folder: Path, rows) -> None:
    """A 2-layer Llama (hidden 64) reward model with a tokenizer trained on the rows' texts."""
    from transformers import AutoModelForSequenceClassification

    texts = [prompt for prompt, _, _ in rows] + [answer for _, answers, _ in rows for answer in answers]
    tokenizer = make_tokenizer(texts)
    config = tiny_config(tokenizer, num_labels=1)
    config.hidden_size, config.intermediate_size = 64, 128
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def run(project: Path, out: Path, base: str, **settings) -> dict:
    return train_reward(RewardConfig(project=project, out=out, base=base, tune="all", save_steps=0, **settings))


def losses_table(args, work: Path) -> list[str]:
    rows = synthetic_rows(args.rankings, seed=1)
    project = work / "synthetic.db"
    write_project(project, rows, seed=2)
    tiny_base(work / "tiny", rows)
    best = best_possible_accuracy(project, 0.1, 0)
    results = {"grouped": [], "pairwise": []}
    for repeat in range(args.repeats):
        for loss in ("grouped", "pairwise"):
            results[loss].append(
                run(project, work / f"{loss}-{repeat}", str(work / "tiny"), loss=loss, learning_rate=args.lr)
            )
    lines = [
        f"| loss | train seconds (median of {args.repeats}) | pairs/s | held-out accuracy (mean) | oracle |",
        "|---|---|---|---|---|",
    ]
    medians = {}
    for loss, runs in results.items():
        seconds = statistics.median(r["train_seconds"] for r in runs)
        medians[loss] = seconds
        accuracy = statistics.mean(r["eval_accuracy"] for r in runs)
        pairs = runs[0]["train_pairs"]
        name = "grouped (ours)" if loss == "grouped" else "pairwise (TRL RewardTrainer)"
        lines.append(f"| {name} | {seconds:.2f} | {pairs / seconds:,.0f} | {accuracy:.3f} | {best:.3f} |")
    lines.append(
        f"\nspeed-up of grouped over pairwise: {medians['pairwise'] / medians['grouped']:.2f}× "
        f"({runs[0]['train_pairs']:,} training pairs from {runs[0]['train_rankings']:,} K = 4 rankings, "
        f"{runs[0]['eval_pairs']:,} held-out pairs, {args.lr} learning rate, 32 answers per step)"
    )
    return lines


def bases_table(args, work: Path) -> list[str]:
    rows = capital_rows(args.base_rankings, seed=3)
    project = work / "capitals.db"
    write_project(project, rows, seed=4)
    best = best_possible_accuracy(project, 0.2, 0)
    lines = ["| base | parameters | train minutes | held-out accuracy | accuracy per minute |", "|---|---|---|---|---|"]
    from trainer.models import load_reward_model, resolve_model_folder

    for base in ("minilm", "smollm2"):
        resolve_model_folder(base)  # smollm2's one-time conversion is not part of the timing
        metrics = run(
            project, work / base, base, eval_fraction=0.2, learning_rate=args.base_lr, max_length=args.max_length
        )
        minutes = metrics["seconds"] / 60
        parameters = sum(p.numel() for p in load_reward_model(base)[0].parameters())
        lines.append(
            f"| {base} | {parameters / 1e6:.1f} M | {minutes:.2f} | {metrics['eval_accuracy']:.3f} | "
            f"{metrics['eval_accuracy'] / minutes:.3f} |"
        )
        print(lines[-1], flush=True)  # a base takes minutes: show each as it ends
    lines.append(
        f"\n{args.base_rankings} capital-city rankings, K = 4, 20% held out ({metrics['eval_pairs']} pairs), "
        f"best possible {best:.3f}; one epoch, learning rate {args.base_lr}, 32 answers per step; minutes "
        "are the whole run (snapshot, tokenising, training, evaluation)"
    )
    return lines


HH_PAIRS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "hh-harmless-dev" / "pairs.jsonl.gz"
LABELER = Path(sys.executable).parent / "labeler"


def hh_project(work: Path, pairs: int | None = None) -> Path:
    """The HH dev set (its first `pairs` rows, if given: a slice for the suite) as a project, through the
    real import command."""
    source = HH_PAIRS
    if pairs is not None:
        source = work / "hh-slice.jsonl"
        with gzip.open(HH_PAIRS, "rt", encoding="utf-8") as rows:
            source.write_text("".join(itertools.islice(rows, pairs)), encoding="utf-8")
    project = work / "hh.db"
    subprocess.run([LABELER, "init", project], check=True, capture_output=True)
    subprocess.run([LABELER, "import", project, source], check=True, capture_output=True)
    return project


def hh_rankings_of_four(pairs_project: Path, out: Path, count: int, seed: int) -> Path:
    """K = 4 rankings of real text: chosen > rejected > (two replies to other prompts, tied)."""
    rng = random.Random(seed)
    with open_read_only(pairs_project) as store:
        items = ranked_prompts(store)
        prompts = {item.prompt_id: store.prompt(item.prompt_id).content for item in items}
    rng.shuffle(items)
    chosen_texts = [item.answers[item.tiers[0][0]] for item in items]
    with open_store(out, create=True) as store:
        for item in items[:count]:
            chosen, rejected = item.answers[item.tiers[0][0]], item.answers[item.tiers[1][0]]
            others = [text for text in rng.sample(chosen_texts, 4) if text not in (chosen, rejected)][:2]
            prompt_id, ids = store.add_prompt(
                prompts[item.prompt_id], [NewAnswer(t) for t in [chosen, rejected, *others]]
            )
            ranking = Ranking.of([[ids[0]], [ids[1]], [ids[2], ids[3]]])
            store.record_judgement(prompt_id, "simulated", Judgement.ranked(ranking), list(ids))
    return out


def shorter_wins(project: Path, eval_fraction: float, seed: int) -> float:
    """On the held-out pairs of the same split: the share where the shorter reply is the chosen one (ties ½)."""
    with open_read_only(project) as store:
        _, held_out = split_by_prompt(ranked_prompts(store), eval_fraction, seed)
    score = total = 0.0
    for item in held_out:
        for chosen, rejected, _ in pairs_of(item):
            a, b = len(item.answers[chosen]), len(item.answers[rejected])
            score += 1.0 if a < b else 0.5 if a == b else 0.0
            total += 1
    return score / total


def run_in_own_process(project: Path, out: Path, threads: int, **settings) -> dict:
    """train_reward in a child process: its metrics and its own peak memory (GB)."""
    code = (
        "import json, resource, sys, torch; from pathlib import Path; "
        f"torch.set_num_threads({threads}); "
        "from trainer.reward import RewardConfig, train_reward; "
        "m = train_reward(RewardConfig(project=Path(sys.argv[1]), out=Path(sys.argv[2]), save_steps=0, "
        "**json.loads(sys.argv[3]))); "
        "m['peak_gb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6; print(json.dumps(m))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(project), str(out), json.dumps(settings)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.splitlines()[-1])


def real_table(args, work: Path) -> list[str]:
    if not HH_PAIRS.is_file():
        raise SystemExit(f"{HH_PAIRS}: the HH dev set is not here")
    pairs = hh_project(work, args.hh_pairs)
    fours = hh_rankings_of_four(pairs, work / "hh-k4.db", args.k4_rankings, seed=5)
    lines = [
        "| data | trainer | train s | pairs/s | rankings/s | peak GB | held-out accuracy | shorter wins |",
        "|---|---|---|---|---|---|---|---|",
    ]
    speeds = {}
    for data, project in (("HH pairs, K = 2", pairs), (f"HH text, K = 4 ({args.k4_rankings} rankings)", fours)):
        baseline = shorter_wins(project, 0.25, 0)
        runs = [("grouped", "auto", "ours (--tune all)"), ("pairwise", "off", "TRL RewardTrainer (fp32)")]
        if project == pairs:  # bf16's effect on accuracy, on the data where the accuracy is worth reading
            runs.insert(1, ("grouped", "off", "ours (--tune all), fp32"))
        for loss, bf16, name in runs:
            m = run_in_own_process(
                project, work / f"{loss}-{len(lines)}", args.threads, base="minilm", tune="all", loss=loss, bf16=bf16,
                eval_fraction=0.25, learning_rate=args.real_lr, batch_size=32,
            )  # fmt: skip
            seconds = m["train_seconds"]
            speeds.setdefault((data, loss), seconds)
            lines.append(
                f"| {data} | {name} | {seconds:.0f} | {m['train_pairs'] / seconds:.2f} | "
                f"{m['train_rankings'] / seconds:.2f} | {m['peak_gb']:.1f} | {m['eval_accuracy']:.3f} "
                f"({m['eval_pairs']} pairs) | {baseline:.3f} |"
            )
            print(lines[-1], flush=True)  # each run takes minutes
    for data in dict.fromkeys(data for data, _ in speeds):
        ratio = speeds[(data, "pairwise")] / speeds[(data, "grouped")]
        lines.append(f"\n{data}: ours at {ratio:.2f}× the speed of TRL's RewardTrainer")
    lines.append(
        f"\nall-MiniLM-L6-v2, one epoch, learning rate {args.real_lr}, 32 sequences per step (TRL: 16 pairs), "
        "max length 512 (longer: the prompt's start cut, none dropped); ours: bf16 autocast where the CPU has it, "
        f"as its default says, and the ratio is of that run; {args.threads} threads; train s is step 4 alone"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rankings", type=int, default=2000, help="synthetic K = 4 rankings for part 1")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-3, help="learning rate of the tiny model")
    parser.add_argument("--bases", action="store_true", help="part 2: minilm vs smollm2 (minutes)")
    parser.add_argument("--base-rankings", type=int, default=100)
    parser.add_argument("--base-lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--real", action="store_true", help="part 3: ours vs TRL on the HH dev set (about 30 minutes)")
    parser.add_argument("--k4-rankings", type=int, default=300, help="K = 4 rankings of HH text for part 3")
    parser.add_argument("--hh-pairs", type=int, help="part 3 on the first N HH pairs only (a slice: the suite runs it)")
    parser.add_argument("--real-lr", type=float, default=2e-5, help="part 3's learning rate, both trainers")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    print(f"# reward bench, {time.strftime('%Y-%m-%d %H:%M')} UTC, {platform.node()}, {args.threads} threads")
    print(f"# load average at start {load:.2f} (other processes share the cores)\n")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        if args.real:
            table = real_table(args, work)
        else:
            table = bases_table(args, work) if args.bases else losses_table(args, work)
    print("\n".join(table))


if __name__ == "__main__":
    main()
