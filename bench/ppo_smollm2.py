"""PPO on the real default policy: `labeler-train ppo` on SmolLM2-135M-Instruct and HH prompts, beside TRL's
RLOOTrainer (`--algo rloo`) on the same policy, reward model, prompts and batch, in one run.

    python bench/ppo_bench.py --smollm2 [--pairs 200] [--steps 2] [--batch-size 8] [--mini-batch-size 4]
                                        [--max-prompt-length 256] [--threads 2] [--run LABEL=ARGS ...]

The workspace is built once in bench/out/ppo-smollm2/ (reused while --pairs is the same): a project of the
first --pairs rows of the HH dev set (../shared/data/hh-harmless-dev, imported by `labeler import`), and a
reward model trained on it by `labeler-train reward` with its defaults (what a user gets). Then each run is a
real `labeler-train ppo` command on it, one after the other (never two at once: the machine has 2 cores),
with the shared options below and the run's own. Without --run, the runs are:

    rloo, 4 passes     TRL's RLOOTrainer at 4 passes (num_iterations): the issue's anchor, at our passes
    rloo, 1 pass       TRL's RLOOTrainer at its own default, 1 pass
    ours, before       our loop as it was when the issue was filed: fp32, every weight trained, the whole
                       value model (20 layers: the reward model's)
    ours               our defaults
    ours, 1 pass       our defaults at RLOO's default of 1 pass

Episodes per second are over the training loop (model loading excluded; metrics.json's own figure), the
seconds of each step from metrics.jsonl, and the peak memory is the command's own maximum resident set
(wait4's ru_maxrss of that process). A markdown table for BENCHMARKS.md is printed at the end.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "ppo-smollm2"
HH_PAIRS = ROOT.parent / "shared" / "data" / "hh-harmless-dev" / "pairs.jsonl.gz"
ANCHOR = "rloo, 4 passes"
DEFAULT_RUNS = {
    ANCHOR: "--algo rloo --ppo-epochs 4",
    "rloo, 1 pass": "--algo rloo --ppo-epochs 1",
    "ours, before": "--bf16 off --no-lora --value-layers 0",
    "ours": "",
    "ours, 1 pass": "--ppo-epochs 1",
}


def _offline_env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _run(command: list[str], log: Path) -> tuple[float, float]:
    """Run a command to the end, its output into `log`; (wall seconds, its peak resident set in GB)."""
    started = time.monotonic()
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=_offline_env())
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not every child's maximum
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed ({process.returncode}):\n{log.read_text()[-3000:]}")
    return time.monotonic() - started, usage.ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def build_workspace(pairs: int, threads: int) -> dict:
    """The HH project and its reward model, made by the console scripts a user runs (once per --pairs)."""
    folder = OUT / f"workspace-{pairs}"
    done = folder / "workspace.json"
    if done.is_file():
        return json.loads(done.read_text())
    if not HH_PAIRS.is_file():
        raise SystemExit(f"{HH_PAIRS}: the HH dev set is not on this machine")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rows = folder / "pairs.jsonl"
    with gzip.open(HH_PAIRS, "rt") as source:
        rows.write_text("".join(itertools.islice(source, pairs)))
    project, reward = folder / "hh.db", folder / "rm"
    labeler = [sys.executable, "-m", "labeler"]
    _run([*labeler, "init", str(project)], folder / "init.log")
    _run([*labeler, "import", str(project), str(rows)], folder / "import.log")
    seconds, _ = _run(
        [sys.executable, "-m", "trainer", "reward", str(project), "--out", str(reward), "--threads", str(threads)],
        folder / "reward.log",
    )
    metrics = json.loads((reward / "metrics.json").read_text())
    workspace = {
        "project": str(project),
        "reward": str(reward),
        "pairs": pairs,
        "reward_accuracy": metrics.get("eval_accuracy"),
        "reward_seconds": round(seconds),
    }
    done.write_text(json.dumps(workspace, indent=2))
    return workspace


def run_ppo(workspace: dict, args: argparse.Namespace, label: str, extra: str, number: int) -> dict:
    out = OUT / f"run-{number}"
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable, "-m", "trainer", "ppo", workspace["project"], "--reward", workspace["reward"],
        "--out", str(out), "--steps", str(args.steps), "--batch-size", str(args.batch_size),
        "--mini-batch-size", str(args.mini_batch_size), "--max-prompt-length", str(args.max_prompt_length),
        "--threads", str(args.threads), "--save-steps", "0", "--sample-every", "0", *shlex.split(extra),
    ]  # fmt: skip
    wall, peak = _run(command, OUT / f"run-{number}.log")
    metrics = json.loads((out / "metrics.json").read_text())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    config = metrics.get("config", {})
    return {
        "label": label,
        "extra": extra,
        "episodes_per_second": metrics["episodes_per_second"],
        "step_seconds": [row.get("seconds") for row in rows],
        "peak_gb": peak,
        "wall": wall,
        "passes": config.get("ppo_epochs"),
        "value_layers": metrics.get("value_layers"),
        "lora": config.get("lora"),
        "bf16": metrics.get("bf16"),
        "kl": [row.get("kl") for row in rows],
    }


def _row(run: dict, anchor: dict | None) -> str:
    ratio = f"{run['episodes_per_second'] / anchor['episodes_per_second']:.2f}×" if anchor else ""
    steps = ", ".join(f"{seconds:.1f}" for seconds in run["step_seconds"] if seconds is not None)
    lora = ", LoRA" if run["lora"] else ""
    if run["extra"].startswith("--algo rloo"):
        what = f"TRL RLOOTrainer (fp32: TRL uses bf16 on a GPU only){lora}"
    else:
        what = f"{'bf16' if run['bf16'] else 'fp32'}, value layers {run['value_layers']}{lora}"
    return (
        f"| {run['label']} | `{run['extra'] or '(defaults)'}` | {what} | {run['passes']} | {steps} | "
        f"{run['episodes_per_second']:.3f} | {ratio} | {run['peak_gb']:.1f} GB |"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200, help="HH rows in the project (and the reward model's)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--mini-batch-size", type=int, default=4)
    parser.add_argument("--max-prompt-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--run", action="append", default=[], metavar="LABEL=ARGS",
        help=f"a run: its label and its own options (repeat; default: the five in the docstring; the one labelled "
        f"{ANCHOR!r} is the anchor of the ratio column)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    runs = dict(entry.split("=", 1) for entry in args.run) if args.run else DEFAULT_RUNS
    started, load_before = datetime.now(UTC), os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    workspace = build_workspace(args.pairs, args.threads)
    results = []
    for number, (label, extra) in enumerate(runs.items()):
        results.append(run_ppo(workspace, args, label, extra, number))
        print(f"{label}: {results[-1]['episodes_per_second']:.3f} episodes/s", file=sys.stderr, flush=True)
    anchor = next((run for run in results if run["label"] == ANCHOR), None)
    load_after = os.getloadavg()
    print(
        f"{started:%Y-%m-%d %H:%M} UTC → {datetime.now(UTC):%H:%M} UTC, {platform.node()}, torch threads "
        f"{args.threads}, load average {load_before[0]:.2f} before / {load_after[0]:.2f} after"
    )
    print(
        f"policy SmolLM2-135M-Instruct (the default); reward model `labeler-train reward` defaults on the first "
        f"{workspace['pairs']} HH dev pairs (held-out accuracy {workspace['reward_accuracy']}); {args.steps} steps × "
        f"{args.batch_size} episodes, minibatch {args.mini_batch_size}, prompts ≤ {args.max_prompt_length} tokens"
    )
    print()
    print(f"| run | options | what | passes | s per step | episodes/s | against {ANCHOR} | peak memory |")
    print("|---|---|---|---|---|---|---|---|")
    for run in results:
        print(_row(run, anchor))
