"""`labeler-train ...`: the trainer's command line.

The training stack (torch, transformers, trl, ...) is the optional `train` extra, imported by the
commands that need it, so `--help` is instant and a missing extra gets a one-line answer.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from labeler import __version__
from labeler.command_line import run_command
from labeler.wording import counted
from trainer.errors import TrainerError
from trainer.events import emit_event
from trainer.options import add_config_options, config_from_args, given

TRAINING_STACK = ("torch", "transformers", "trl", "datasets", "accelerate", "peft")


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def cmd_env(args: argparse.Namespace) -> int:
    """What the trainer would run with: package versions, threads, embedded models."""
    packages = {name: _installed_version(name) for name in TRAINING_STACK}
    missing = [name for name, version in packages.items() if version is None]
    if missing:
        raise TrainerError(
            f"the training stack is not installed ({', '.join(missing)} missing): pip install 'labeler[train]'"
        )
    import torch

    from trainer.models import EMBEDDED_MODELS

    report = {
        "labeler": __version__,
        "python": sys.version.split()[0],
        **packages,
        "torch_threads": torch.get_num_threads(),
        "cuda_devices": torch.cuda.device_count(),
        "embedded_models": {name: _installed_version(pkg) for name, pkg in EMBEDDED_MODELS.items()},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, value in report.items():
            print(f"{name:<16} {value if value is not None else 'not installed'}")
    return 0


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def cmd_reward(args: argparse.Namespace) -> int:
    """Train a reward model on the project's current rankings."""
    from trainer.configs import FINE_TUNING, HEAD, RewardConfig

    # Options that one way of tuning never reads are refused, not silently ignored.
    if args.tune == "head" and given(RewardConfig, args, FINE_TUNING):
        options = ", ".join(given(RewardConfig, args, FINE_TUNING))
        raise TrainerError(f"{options}: for fine-tuning the whole model, add --tune all (--tune head is the default)")
    if args.tune == "all" and given(RewardConfig, args, HEAD):
        raise TrainerError("--head-l2 is for --tune head (the default), not --tune all")
    _set_threads(args.threads)
    from trainer.reward import train_reward

    metrics = train_reward(config_from_args(RewardConfig, args))
    return _report_done(args, metrics, lambda: _summary(metrics, args.out))


def _report_done(args: argparse.Namespace, metrics: dict, summary: Callable[[], str]) -> int:
    """The end of a run: the "done" event with its metrics (--events) or a summary line, and under
    accelerate launch from the main process only."""
    if not _is_main_process():
        return 0
    if args.events:
        emit_event("done", **metrics)
    else:
        print(summary())
    return 0


def _is_main_process() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def _summary(metrics: dict, out: Path) -> str:
    accuracy = metrics["eval_accuracy"]
    if accuracy is None:
        shown = "no held-out pairs"
    else:
        shown = (
            f"{accuracy:.1%} of {counted(metrics['eval_pairs'], 'held-out pair')} ordered as the annotators did "
            f"(the longer answer wins {metrics['eval_longer_wins']:.1%} of them)"
        )
    cut = metrics["prompts_cut"] + metrics["answers_cut"]
    return (
        f"reward model saved to {out}: {shown}; trained on "
        f"{counted(metrics['train_pairs'], 'pair')} from {counted(metrics['train_prompts'], 'prompt')} "
        f"in {metrics['seconds']:.0f} s" + (f"; {cut:,} inputs cut to --max-length (see metrics.json)" if cut else "")
    )


def cmd_eval_reward(args: argparse.Namespace) -> int:
    """Accuracy of a reward model on a file of pairs (or rankings) in any format the importer reads."""
    _set_threads(args.threads)
    from trainer.evaluation import evaluate_file

    result = evaluate_file(Path(args.model), Path(args.file), args.max_length)
    if args.json:
        print(json.dumps(result))
    else:
        first = result["first_shown_wins"]
        print(
            f"accuracy {result['accuracy']:.4f} over {counted(result['pairs'], 'pair')}, "
            f"mean margin {result['mean_margin']:.4f}"
            f"; on the same pairs, the longer answer wins {result['longer_wins']:.4f}, the first shown "
            + ("— (pairs carry no display order)" if first is None else f"{first:.4f}")
        )
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Write the model's score for every answer of the project into the project."""
    _set_threads(args.threads)
    from trainer.evaluation import score_project

    written, name = score_project(Path(args.model), Path(args.project), args.max_length, args.name)
    print(f"{counted(written, 'answer')} scored by {name}")
    return 0


def cmd_sft(args: argparse.Namespace) -> int:
    """Supervised fine-tuning on the project's written answers (and, optionally, its best-ranked ones)."""
    _set_threads(args.threads)
    from trainer.configs import SFTConfig
    from trainer.sft import train_sft

    metrics = train_sft(config_from_args(SFTConfig, args))
    held_out = metrics["eval_loss_after"]
    return _report_done(
        args,
        metrics,
        lambda: (
            f"model saved to {args.out}: loss on its {counted(metrics['train_examples'], 'example')} "
            f"{metrics['train_loss_before']:.3f} -> {metrics['train_loss_after']:.3f}"
            + ("" if held_out is None else f", on held-out prompts {metrics['eval_loss_before']:.3f} -> {held_out:.3f}")
        ),
    )


def cmd_ppo(args: argparse.Namespace) -> int:
    """Tune a policy against a reward model with PPO (or TRL's RLOO)."""
    _set_threads(args.threads)
    from trainer.configs import PPOConfig
    from trainer.ppo import train_ppo

    metrics = train_ppo(config_from_args(PPOConfig, args))
    score = metrics["last_score"]
    shown = "no step run" if score is None else f"mean score {metrics['first_score']:.3f} -> {score:.3f}"
    kl = "" if metrics["last_kl"] is None else f", KL {metrics['last_kl']:.3f}"
    return _report_done(
        args,
        metrics,
        lambda: (
            f"policy saved to {args.out} ({metrics['algo']}, {counted(metrics['steps'], 'step')}, "
            f"{counted(metrics['episodes'], 'episode')}): {shown}{kl}, {metrics['seconds']:.0f} s"
        ),
    )


def cmd_generate(args: argparse.Namespace) -> int:
    """Sample K answers per prompt from a policy and add them to the project."""
    _set_threads(args.threads)
    from trainer.configs import GenerateConfig
    from trainer.generate import generate

    result = generate(config_from_args(GenerateConfig, args))
    summary = {
        "prompts": result.prompts,
        "answers_added": result.answers_added,
        "duplicates": result.duplicates,
        "empty": result.empty,
        "no_room": result.no_room,
        "prompts_full": result.prompts_full,
        "model": result.model,
    }
    if args.events:
        emit_event("done", **summary)
    else:
        left_out = result.duplicates + result.no_room
        print(
            f"{counted(result.answers_added, 'answer')} by {result.model} added to {counted(result.prompts, 'prompt')}"
            + (f" ({result.empty:,} of them empty: kept, an empty reply is a real answer)" if result.empty else "")
            + (f"; {left_out:,} left out (duplicate, or no room: at most 9 answers a prompt)" if left_out else "")
            + (f"; {counted(result.prompts_full, 'prompt')} already had 9 answers" if result.prompts_full else "")
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labeler-train",
        description="Train models from a labeler project: SFT, reward model, PPO, generation.",
    )
    parser.add_argument("--version", action="version", version=f"labeler-train {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # What every command that runs torch shares.
    threads = argparse.ArgumentParser(add_help=False)
    threads.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    env = commands.add_parser("env", help="show the training stack's versions, threads and embedded models")
    env.add_argument("--json", action="store_true", help="print a JSON object")
    env.set_defaults(run=cmd_env)

    from trainer.configs import GenerateConfig, PPOConfig, RewardConfig, SFTConfig  # standard library only

    reward = commands.add_parser(
        "reward",
        parents=[threads],
        help="train a reward model on the project's rankings",
        description="Train a reward model on the project's current rankings (a snapshot: annotators can keep "
        "working). Writes a Hugging Face model folder and metrics.json to --out.",
    )
    add_config_options(reward, RewardConfig)
    reward.set_defaults(run=cmd_reward)

    evaluate = commands.add_parser(
        "eval-reward",
        parents=[threads],
        help="a reward model's accuracy on a pairs file",
        description="Accuracy of a reward model on a file of pairs (TRL standard, implicit prompt, "
        "conversational, HH transcripts) or rankings, in any format `labeler import` reads.",
    )
    evaluate.add_argument("model", metavar="MODEL_DIR")
    evaluate.add_argument("file", metavar="FILE")
    evaluate.add_argument("--json", action="store_true", help="print a JSON object")
    evaluate.add_argument("--max-length", type=int, default=512)
    evaluate.set_defaults(run=cmd_eval_reward)

    score = commands.add_parser(
        "score",
        parents=[threads],
        help="store a reward model's score for every answer in the project",
        description="Score every answer of the project with a reward model and store the scores in the project "
        "under the model's name, so the app can show where the model and the annotators disagree.",
    )
    score.add_argument("model", metavar="MODEL_DIR")
    score.add_argument("project", metavar="PROJECT")
    score.add_argument("--name", help="the name to store the scores under (default: the model folder's name)")
    score.add_argument("--max-length", type=int, default=512)
    score.set_defaults(run=cmd_score)

    sft = commands.add_parser(
        "sft",
        parents=[threads],
        help="supervised fine-tuning on the answers annotators wrote",
        description="Fine-tune a policy on the project's demonstrations (answers annotators wrote or rewrote) with "
        "TRL's SFTTrainer and the model's chat template; --include-best adds each ranking's best answers.",
    )
    add_config_options(sft, SFTConfig)
    sft.set_defaults(run=cmd_sft)

    gen = commands.add_parser(
        "generate",
        parents=[threads],
        help="add K sampled answers per prompt from a policy to the project",
        description="Sample K answers per prompt from a policy and add them to the project (with the model's name "
        "and sampling settings), so annotators can rank what the new policy says. A prompt keeps 9 answers at most.",
    )
    add_config_options(gen, GenerateConfig)
    gen.set_defaults(run=cmd_generate)

    ppo = commands.add_parser(
        "ppo",
        parents=[threads],
        help="tune a policy against a reward model with PPO (or TRL's RLOO)",
        description="Tune a policy with PPO against a reward model trained by `labeler-train reward`, on the "
        "project's prompts (or --prompts FILE). Writes the policy as a Hugging Face model folder, metrics.jsonl "
        "(a line per step), samples.jsonl and metrics.json to --out.",
    )
    add_config_options(ppo, PPOConfig)
    ppo.set_defaults(run=cmd_ppo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def report_event(message: str) -> None:
        if getattr(args, "events", False):  # the app reads only stdout's events: the failure must arrive there
            emit_event("error", message=message)

    return run_command("labeler-train", lambda: args.run(args), (TrainerError,), report_event)


if __name__ == "__main__":
    sys.exit(main())
