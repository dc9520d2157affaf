"""PPO bench: our `labeler-train ppo` against trl 1.12's PPOTrainer (`trl.experimental.ppo`, the last TRL with PPO).

    python bench/ppo_bench.py [--steps 40] [--batch-size 16] [--mini-batch-size 8] [--ppo-epochs 4]
                              [--response-length 24] [--threads 1] [--hidden 32] [--layers 2] [--quick]

    python bench/ppo_bench.py --smollm2 [...]   the real default policy beside TRL's RLOO: see ppo_smollm2.py

Prints a markdown table for BENCHMARKS.md. Goal (issue 6): at least 1.5× trl's episodes per second, with an
equal or larger rise in the reward model's score at a similar KL.

Both runs get the same inputs: one tiny Llama policy (warmed up on the project's answers so that it speaks
their words), one reward model trained by `labeler-train reward` on rankings where an answer that says
"great" more often wins, the same prompts in the policy's chat template, the same response length, batch,
minibatch, epochs, learning rate, temperature, KL coefficient (k1), value model (initialised from the reward
model), and the same torch thread count, set explicitly in each process. The score both optimise is the
reward model's, normalised with the mean and deviation the reward trainer saved: ours does that itself; for
trl the reward model's score head is wrapped to do the same. Episodes per second are over the training loop
only (model loading excluded on both sides), and the wall time of each whole command is shown as well.

trl 1.12 is never a dependency of the project: the bench installs it into its own virtual environment
(bench/out/venv-trl112, ignored by git) with the project's pins (constraints.txt, so torch stays the local
CPU build) and the same transformers, accelerate and datasets as ours, then runs this file there with
--run-trl, which imports nothing of the project.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "ppo"
TRL_VENV = ROOT / "bench" / "out" / "venv-trl112"
TRL_VERSION = "1.12.0"
GOAL = 1.5  # our episodes/s over trl's
WINDOW = 5  # steps averaged at the end of a run for the score and KL


# --- The workspace: project, reward model, warmed-up policy (our environment) --------------------------------


def build_workspace(folder: Path, prompts: int, hidden: int, layers: int, threads: int) -> dict:
    """The project, the trained reward model and the warmed-up policy in `folder` (built once per size)."""
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_models import GREAT_REWARD_SETTINGS, build_great_project, make_tokenizer, warm_up_policy
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, GenerationConfig, LlamaConfig

    from trainer.reward import RewardConfig, train_reward

    done = folder / "workspace.json"
    if done.is_file():
        return json.loads(done.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    texts, pairs = build_great_project(folder / "project.db", prompts, words_per_answer=6)
    tokenizer = make_tokenizer(texts)

    def config(**extra) -> LlamaConfig:
        return LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=max(2, hidden // 64),
            num_key_value_heads=max(2, hidden // 64),
            intermediate_size=2 * hidden,
            max_position_embeddings=1024,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **extra,
        )

    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_config(config(num_labels=1))
    base.save_pretrained(folder / "reward-base")
    tokenizer.save_pretrained(folder / "reward-base")
    started = time.monotonic()
    reward = train_reward(
        RewardConfig(
            project=folder / "project.db",
            out=folder / "reward",
            base=str(folder / "reward-base"),
            **GREAT_REWARD_SETTINGS,
        )
    )
    reward_seconds = time.monotonic() - started

    # The policy: a language model taught the answers for a few hundred steps, so that PPO starts from one
    # that writes the project's words and says "great" now and then.
    policy = AutoModelForCausalLM.from_config(config())
    policy.generation_config = GenerationConfig(
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id
    )
    started = time.monotonic()
    warm_up_loss = warm_up_policy(policy, tokenizer, pairs, steps=300)
    policy.save_pretrained(folder / "policy")
    tokenizer.save_pretrained(folder / "policy")
    workspace = {
        "project": str(folder / "project.db"),
        "reward": str(folder / "reward"),
        "policy": str(folder / "policy"),
        "prompts": [f"Question {index}" for index in range(prompts)],
        "reward_accuracy": reward["eval_accuracy"],
        "reward_mean": reward["reward_mean"],
        "reward_std": reward["reward_std"],
        "reward_seconds": round(reward_seconds, 1),
        "warm_up_loss": round(warm_up_loss, 3),
        "warm_up_seconds": round(time.monotonic() - started, 1),
        "parameters": sum(parameter.numel() for parameter in policy.parameters()),
    }
    done.write_text(json.dumps(workspace, indent=2))
    return workspace


# --- Runs ----------------------------------------------------------------------------------------------------


def run_ours(workspace: dict, args: argparse.Namespace, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "trainer",
        "ppo",
        workspace["project"],
        "--policy",
        workspace["policy"],
        "--reward",
        workspace["reward"],
        "--out",
        str(out),
        *_shared_options(args),
        "--threads",
        str(args.threads),
        "--save-steps",
        "0",
        "--sample-every",
        "0",
        "--events",
    ]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=_offline_env())
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"our ppo failed:\n{result.stderr[-4000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {
        "episodes_per_second": metrics["episodes_per_second"],
        "train_seconds": metrics["train_seconds"],
        "wall_seconds": wall,
        "scores": [row["score"] for row in rows],
        "kls": [row["kl"] for row in rows],
        "entropies": [row["entropy"] for row in rows],
    }


def _shared_options(args: argparse.Namespace) -> list[str]:
    return [
        "--steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--mini-batch-size",
        str(args.mini_batch_size),
        "--ppo-epochs",
        str(args.ppo_epochs),
        "--learning-rate",
        str(args.learning_rate),
        "--response-length",
        str(args.response_length),
        "--temperature",
        "0.7",
        "--kl-coef",
        str(args.kl_coef),
        "--seed",
        str(args.seed),
    ]


def _offline_env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRL_EXPERIMENTAL_SILENCE": "1"}


def ensure_trl_venv() -> Path:
    """The bench's own virtual environment with trl 1.12 and our versions of the rest; its python."""
    python = TRL_VENV / "bin" / "python"
    pins = {name: importlib.metadata.version(name) for name in ("transformers", "accelerate", "datasets")}
    wanted = {"trl": TRL_VERSION, **pins}
    if python.is_file() and _versions(python, wanted) == wanted:
        return python
    shutil.rmtree(TRL_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(TRL_VENV)], check=True)
    requirements = [f"{name}=={version}" for name, version in wanted.items()]
    # constraints.txt pins torch to the local CPU build; without it pip may pull a multi-GB CUDA torch.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), "torch", *requirements],
        check=True,
    )
    return python


def _versions(python: Path, wanted: dict) -> dict:
    script = "import importlib.metadata as m, json, sys; print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    result = subprocess.run([str(python), "-c", script, *wanted], capture_output=True, text=True)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def run_trl(python: Path, workspace: dict, args: argparse.Namespace, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    spec = {
        **{key: workspace[key] for key in ("project", "reward", "policy", "reward_mean", "reward_std")},
        "prompts_file": str(out / "prompts.json"),
        "out": str(out),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "mini_batch_size": args.mini_batch_size,
        "ppo_epochs": args.ppo_epochs,
        "learning_rate": args.learning_rate,
        "response_length": args.response_length,
        "kl_coef": args.kl_coef,
        "seed": args.seed,
        "threads": args.threads,
    }
    # The prompts as our run reads them from the project (its snapshot), so both train on the same texts.
    from labeler.store import open_read_only

    with open_read_only(Path(workspace["project"])) as store:
        ids = store.prompt_ids()
        found = store.prompts(ids)
    (out / "prompts.json").write_text(json.dumps([found[prompt_id].content for prompt_id in ids]))
    (out / "spec.json").write_text(json.dumps(spec))
    started = time.monotonic()
    result = subprocess.run(
        [str(python), str(Path(__file__).resolve()), "--run-trl", str(out / "spec.json")],
        capture_output=True,
        text=True,
        env=_offline_env(),
    )
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"trl's ppo failed:\n{result.stderr[-4000:]}")
    return {**json.loads((out / "result.json").read_text()), "wall_seconds": wall}


def trl_main(spec_path: Path) -> None:
    """Runs in the trl 1.12 environment: PPOTrainer on the spec's models and prompts; writes result.json."""
    spec = json.loads(spec_path.read_text())
    import torch

    torch.set_num_threads(spec["threads"])
    import datasets
    from torch import nn
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
        TrainerCallback,
    )
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    datasets.disable_progress_bars()
    out = Path(spec["out"])
    tokenizer = AutoTokenizer.from_pretrained(spec["policy"], padding_side="left")
    policy = AutoModelForCausalLM.from_pretrained(spec["policy"], dtype=torch.float32)
    reference = AutoModelForCausalLM.from_pretrained(spec["policy"], dtype=torch.float32)
    value_model = AutoModelForSequenceClassification.from_pretrained(spec["reward"], num_labels=1, dtype=torch.float32)
    reward_model = AutoModelForSequenceClassification.from_pretrained(spec["reward"], num_labels=1, dtype=torch.float32)

    class Normalised(nn.Module):
        """The reward head, then (score − mean) / std as our trainer normalises it."""

        def __init__(self, head: nn.Module, mean: float, std: float):
            super().__init__()
            self.head, self.mean, self.std = head, mean, std

        def forward(self, hidden: torch.Tensor) -> torch.Tensor:
            return (self.head(hidden) - self.mean) / self.std

    reward_model.score = Normalised(reward_model.score, spec["reward_mean"], spec["reward_std"])
    prompts = json.loads(Path(spec["prompts_file"]).read_text())
    rendered = [
        tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        for prompt in prompts
    ]
    dataset = datasets.Dataset.from_dict(
        {"input_ids": [tokenizer(text, add_special_tokens=False)["input_ids"] for text in rendered]}
    )
    per_minibatch = spec["batch_size"] // spec["mini_batch_size"]
    config = PPOConfig(
        output_dir=str(out / "trl"),
        per_device_train_batch_size=spec["mini_batch_size"],
        gradient_accumulation_steps=per_minibatch,  # with num_mini_batches: one optimiser step per minibatch
        num_mini_batches=per_minibatch,
        total_episodes=spec["steps"] * spec["batch_size"],
        num_ppo_epochs=spec["ppo_epochs"],
        learning_rate=spec["learning_rate"],
        response_length=spec["response_length"],
        temperature=0.7,
        kl_coef=spec["kl_coef"],
        kl_estimator="k1",
        stop_token="eos",
        local_rollout_forward_batch_size=spec["batch_size"],
        num_sample_generations=0,  # ours logs samples from the rollouts themselves, at no cost
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=spec["seed"],
        # PPOConfig's defaults are for GPUs: bf16 and activation checkpointing, slower and inexact on the CPU.
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=True,
        disable_tqdm=True,
    )
    records = []

    class Record(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "objective/scores" in logs:
                records.append(dict(logs))

    trainer = PPOTrainer(
        args=config,
        processing_class=tokenizer,
        model=policy,
        ref_model=reference,
        reward_model=reward_model,
        value_model=value_model,
        train_dataset=dataset,
        eval_dataset=dataset.select(range(min(8, len(dataset)))),
        callbacks=[Record()],
    )
    started = time.monotonic()
    trainer.train()
    train_seconds = time.monotonic() - started
    episodes = spec["steps"] * spec["batch_size"]
    result = {
        "episodes_per_second": episodes / train_seconds,
        "train_seconds": train_seconds,
        "scores": [entry["objective/scores"] for entry in records],
        "kls": [entry["objective/kl"] for entry in records],
        "entropies": [entry["policy/entropy_avg"] for entry in records],
        "trl": __import__("trl").__version__,
    }
    (out / "result.json").write_text(json.dumps(result))


# --- Report ---------------------------------------------------------------------------------------------------


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def summarise(run: dict, start: float) -> dict:
    """A run's speed, and its score over its last steps against `start`, the initial policy's mean score."""
    scores, kls = run["scores"], run["kls"]
    return {
        "episodes_per_second": run["episodes_per_second"],
        "train_seconds": run["train_seconds"],
        "wall_seconds": run["wall_seconds"],
        "score_start": start,
        "score_end": _mean(scores[-WINDOW:]),
        "rise": _mean(scores[-WINDOW:]) - start,
        "kl_end": _mean(kls[-WINDOW:]),
        "kl_max": max(kls),
    }


def main() -> None:
    if "--smollm2" in sys.argv[1:]:  # the SmolLM2 mode has its own workspace and options
        from ppo_smollm2 import main as smollm2_main

        smollm2_main([arg for arg in sys.argv[1:] if arg != "--smollm2"])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-trl", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mini-batch-size", type=int, default=8)
    parser.add_argument("--ppo-epochs", type=int, default=4)
    parser.add_argument("--response-length", type=int, default=24)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--kl-coef", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each, alternated; the table shows the medians")
    parser.add_argument("--quick", action="store_true", help="10 steps, to check the bench itself")
    args = parser.parse_args()
    if args.run_trl:
        trl_main(args.run_trl)
        return
    if args.quick:
        args.steps = 10
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    python = ensure_trl_venv()
    folder = OUT / f"workspace-h{args.hidden}-l{args.layers}-p{args.prompts}"
    workspace = build_workspace(folder, args.prompts, args.hidden, args.layers, args.threads)
    ours_runs, trl_runs = [], []
    for repeat in range(args.repeats):  # alternated, so a change in the machine's load falls on both
        ours_runs.append(run_ours(workspace, args, OUT / f"ours-{repeat}"))
        trl_runs.append(run_trl(python, workspace, args, OUT / f"trl-{repeat}"))
    # Every run's first step samples the same initial policy: their mean is the common starting score.
    start = _mean([run["scores"][0] for run in ours_runs + trl_runs])
    ours_runs = [summarise(run, start) for run in ours_runs]
    trl_runs = [summarise(run, start) for run in trl_runs]
    load_after = os.getloadavg()
    ours, theirs = _median(ours_runs), _median(trl_runs)
    print(_table(args, workspace, ours, theirs, started, load_before, load_after))
    print()
    print(
        "each run, episodes/s (ours / trl):",
        ", ".join(
            f"{a['episodes_per_second']:.1f} / {b['episodes_per_second']:.1f}"
            for a, b in zip(ours_runs, trl_runs, strict=True)
        ),
    )
    print("uptime after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


def _median(runs: list[dict]) -> dict:
    return {key: sorted(run[key] for run in runs)[len(runs) // 2] for key in runs[0]}


def _table(args, workspace, ours, theirs, started, load_before, load_after) -> str:
    speedup = ours["episodes_per_second"] / theirs["episodes_per_second"]
    ok = "✔" if speedup >= GOAL else "✘"
    rise_ok = "✔" if ours["rise"] >= theirs["rise"] else "✘"
    lines = [
        f"{started:%Y-%m-%d %H:%M} UTC, {platform.node()}, torch threads {args.threads}, "
        f"load average {load_before[0]:.2f} before / {load_after[0]:.2f} after",
        f"policy {workspace['parameters']:,} parameters (hidden {args.hidden}, {args.layers} layers); "
        f"{args.steps} steps × {args.batch_size} episodes, minibatch {args.mini_batch_size}, {args.ppo_epochs} epochs, "
        f"response ≤ {args.response_length} tokens, lr {args.learning_rate}, β {args.kl_coef} (k1); "
        f"reward model held-out accuracy {workspace['reward_accuracy']:.2f}",
        "",
        "| measure | ours | trl 1.12 PPOTrainer | goal |",
        "|---|---|---|---|",
        f"| episodes/s (training loop) | {ours['episodes_per_second']:.1f} | {theirs['episodes_per_second']:.1f} | "
        f"≥ {GOAL}× ({speedup:.2f}×) {ok} |",
        f"| training loop / whole command | {ours['train_seconds']:.1f} s / {ours['wall_seconds']:.1f} s | "
        f"{theirs['train_seconds']:.1f} s / {theirs['wall_seconds']:.1f} s | |",
        f"| score: initial policy (step 1 of all runs) → mean of the last {WINDOW} steps | "
        f"{ours['score_start']:.3f} → {ours['score_end']:.3f} | "
        f"{theirs['score_start']:.3f} → {theirs['score_end']:.3f} | |",
        f"| rise in score | {ours['rise']:+.3f} | {theirs['rise']:+.3f} | ≥ trl's {rise_ok} |",
        f"| KL per response, last {WINDOW} steps (max over the run) | {ours['kl_end']:.3f} ({ours['kl_max']:.3f}) | "
        f"{theirs['kl_end']:.3f} ({theirs['kl_max']:.3f}) | similar |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
