"""`labeler-train ...`: the trainer's command line.

A command is the function under its `@command(...)`: the decorator names it, gives its line in `--help` and the
config dataclass its options are built from (every option's default and help is on the config's fields, in
trainer/configs.py); the function's docstring is its description. The function gets the config and returns
how the run ended, which `_run` reports the same way for every command.

The training stack (torch, transformers, trl, ...) is the optional `train` extra, imported by the
commands that need it, so `--help` is instant and a missing extra gets a one-line answer.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from labeler import __version__
from labeler.command_line import run_command
from labeler.wording import counted
from trainer import configs
from trainer.errors import TrainerError
from trainer.events import emit_event
from trainer.options import add_config_options, config_from_args, given
from trainer.stack import stack_report
from trainer.stopping import EXIT_STOPPED, RunStopped, listen


@dataclasses.dataclass(frozen=True)
class Done:
    result: dict  # the "done" event's fields with --events, the object printed with --json
    summary: Callable[[], str]  # the line a person reads otherwise (called only then)


@dataclasses.dataclass(frozen=True)
class Command:
    config: type  # the dataclass its options are built from
    run: Callable[[Any], Done]  # the function under @command
    help: str  # its line in `labeler-train --help`
    threads: bool = True  # offers --threads (every command that computes with torch)
    every_process: bool = False  # runs in each process under `accelerate launch`: only the main one reports
    refuse: Callable[[argparse.Namespace], None] | None = None  # checks the options as typed, before anything runs


COMMANDS: dict[str, Command] = {}  # in the order `labeler-train --help` lists them


def command(name: str, config: type, help: str, **how: Any) -> Callable:
    """Declares the function below as `labeler-train NAME`."""

    def register(run: Callable[[Any], Done]) -> Callable[[Any], Done]:
        COMMANDS[name] = Command(config, run, help, **how)
        return run

    return register


@command("env", configs.EnvConfig, "show the training stack's versions, threads and embedded models", threads=False)
def cmd_env(config: configs.EnvConfig) -> Done:
    """What the trainer would run with: package versions, torch's threads, the embedded models installed."""
    report = stack_report()
    lines = [f"{name:<16} {'not installed' if value is None else value}" for name, value in report.items()]
    return Done(report, lambda: "\n".join(lines))


def _refuse_options_the_tuning_ignores(args: argparse.Namespace) -> None:
    """Options that one way of tuning never reads are refused, not silently ignored."""
    if args.tune == "head" and given(configs.RewardConfig, args, configs.FINE_TUNING):
        options = ", ".join(given(configs.RewardConfig, args, configs.FINE_TUNING))
        raise TrainerError(f"{options}: for fine-tuning the whole model, add --tune all (--tune head is the default)")
    if args.tune == "all" and given(configs.RewardConfig, args, configs.HEAD):
        raise TrainerError("--head-l2 is for --tune head (the default), not --tune all")


@command(
    "reward",
    configs.RewardConfig,
    "train a reward model on the project's rankings",
    every_process=True,
    refuse=_refuse_options_the_tuning_ignores,
)
def cmd_reward(config: configs.RewardConfig) -> Done:
    """Train a reward model on the project's current rankings (a snapshot: annotators can keep working).
    Writes a Hugging Face model folder and metrics.json to --out."""
    from trainer.reward import train_reward

    metrics = train_reward(config)

    def summary() -> str:
        accuracy, cut = metrics["eval_accuracy"], metrics["prompts_cut"] + metrics["answers_cut"]
        shown = "no held-out pairs"
        if accuracy is not None:
            shown = (
                f"{accuracy:.1%} of {counted(metrics['eval_pairs'], 'held-out pair')} ordered as the annotators did "
                f"(the longer answer wins {metrics['eval_longer_wins']:.1%} of them)"
            )
        return (
            f"reward model saved to {config.out}: {shown}; trained on {counted(metrics['train_pairs'], 'pair')} "
            f"from {counted(metrics['train_prompts'], 'prompt')} in {metrics['seconds']:.0f} s"
            + (f"; {cut:,} inputs cut to --max-length (see metrics.json)" if cut else "")
        )

    return Done(metrics, summary)


@command("eval-reward", configs.EvalRewardConfig, "a reward model's accuracy on a pairs file")
def cmd_eval_reward(config: configs.EvalRewardConfig) -> Done:
    """Accuracy of a reward model on a file of pairs (TRL standard, implicit prompt, conversational, HH
    transcripts) or rankings, in any format `labeler import` reads."""
    from trainer.evaluation import evaluate_file

    result = evaluate_file(config.model, config.file, config.max_length)
    first = result["first_shown_wins"]
    return Done(
        result,
        lambda: (
            f"accuracy {result['accuracy']:.4f} over {counted(result['pairs'], 'pair')}, "
            f"mean margin {result['mean_margin']:.4f}"
            f"; on the same pairs, the longer answer wins {result['longer_wins']:.4f}, the first shown "
            + ("— (pairs carry no display order)" if first is None else f"{first:.4f}")
        ),
    )


@command("score", configs.ScoreConfig, "store a reward model's score for every answer in the project")
def cmd_score(config: configs.ScoreConfig) -> Done:
    """Score every answer of the project with a reward model and store the scores in the project under the
    model's name, so the app can show where the model and the annotators disagree."""
    from trainer.evaluation import score_project

    written, name = score_project(config.model, config.project, config.max_length, config.name)
    return Done({"answers": written, "name": name}, lambda: f"{counted(written, 'answer')} scored by {name}")


@command("compare", configs.CompareConfig, "policy B's win rate against policy A, as a reward model judges them")
def cmd_compare(config: configs.CompareConfig) -> Done:
    """Sample one answer per prompt from each policy (same settings, same seed), score both with the judge, and
    report how often B's answer scores higher (a tie counts half) with a 95% interval. The judge should be a
    reward model neither policy was tuned against: PPO may have learnt to fool its own."""
    from trainer.compare import compare

    result = compare(config)
    return Done(
        result,
        lambda: (
            f"B wins {result['win_rate']:.1%} (95% interval {result['win_low']:.1%} to {result['win_high']:.1%}) "
            f"of {counted(result['prompts'], 'prompt')} against A: {result['wins']:,} wins, {result['ties']:,} "
            f"ties, {result['losses']:,} losses; mean score A {result['mean_score_a']:.3f}, "
            f"B {result['mean_score_b']:.3f}" + ("" if config.out is None else f"; answers in {config.out}")
        ),
    )


@command("sft", configs.SFTConfig, "supervised fine-tuning on the answers annotators wrote", every_process=True)
def cmd_sft(config: configs.SFTConfig) -> Done:
    """Fine-tune a policy on the project's demonstrations (answers annotators wrote or rewrote) with TRL's
    SFTTrainer and the model's chat template; --include-best adds each ranking's best answers."""
    from trainer.sft import train_sft

    metrics = train_sft(config)
    held_out = metrics["eval_loss_after"]
    return Done(
        metrics,
        lambda: (
            f"model saved to {config.out}: loss on its {counted(metrics['train_examples'], 'example')} "
            f"{metrics['train_loss_before']:.3f} -> {metrics['train_loss_after']:.3f}"
            + ("" if held_out is None else f", on held-out prompts {metrics['eval_loss_before']:.3f} -> {held_out:.3f}")
        ),
    )


@command("generate", configs.GenerateConfig, "add K sampled answers per prompt from a policy to the project")
def cmd_generate(config: configs.GenerateConfig) -> Done:
    """Sample K answers per prompt from a policy and add them to the project (with the model's name and
    sampling settings), so annotators can rank what the new policy says. A prompt keeps 9 answers at most."""
    from trainer.generate import generate

    result = generate(config)
    left_out = result.duplicates + result.no_room
    return Done(
        dataclasses.asdict(result),
        lambda: (
            f"{counted(result.answers_added, 'answer')} by {result.model} added to {counted(result.prompts, 'prompt')}"
            + (f" ({result.empty:,} of them empty: kept, an empty reply is a real answer)" if result.empty else "")
            + (f"; {left_out:,} left out (duplicate, or no room: at most 9 answers a prompt)" if left_out else "")
            + (f"; {counted(result.prompts_full, 'prompt')} already had 9 answers" if result.prompts_full else "")
        ),
    )


@command("ppo", configs.PPOConfig, "tune a policy against a reward model with PPO (or TRL's RLOO)", every_process=True)
def cmd_ppo(config: configs.PPOConfig) -> Done:
    """Tune a policy with PPO against a reward model trained by `labeler-train reward`, on the project's prompts
    (or --prompts FILE). Writes the policy as a Hugging Face model folder, metrics.jsonl (a line per step),
    samples.jsonl and metrics.json to --out."""
    from trainer.ppo import train_ppo

    metrics = train_ppo(config)

    def summary() -> str:
        score, kl = metrics["last_score"], metrics["last_kl"]
        shown = "no step run" if score is None else f"mean score {metrics['first_score']:.3f} -> {score:.3f}"
        return (
            f"policy saved to {config.out} ({metrics['algo']}, {counted(metrics['steps'], 'step')}, "
            f"{counted(metrics['episodes'], 'episode')}): {shown}{'' if kl is None else f', KL {kl:.3f}'}, "
            f"{metrics['seconds']:.0f} s"
        )

    return Done(metrics, summary)


def _run(args: argparse.Namespace) -> int:
    """The command the arguments name, run and reported: the "done" event with --events, a JSON object with
    --json, else its summary."""
    chosen = COMMANDS[args.command]
    if chosen.refuse:
        chosen.refuse(args)
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    config = config_from_args(chosen.config, args)
    listen()
    try:
        done = chosen.run(config)
    except RunStopped as stopped:
        return _report_stopped(config, stopped)
    if chosen.every_process:
        from accelerate import PartialState

        if not PartialState().is_main_process:
            return 0
    if getattr(config, "events", False):
        emit_event("done", **done.result)
    elif getattr(config, "json", False):
        print(json.dumps(done.result, indent=2))
    else:
        print(done.summary())
    return 0


def _report_stopped(config: Any, stopped: RunStopped) -> int:
    """A run ended by SIGTERM: where --resume continues it, as a "stopped" event or a line on stderr."""
    out = getattr(config, "out", None)
    if stopped.step is not None:
        message = f"stopped at step {stopped.step}, checkpointed: --resume continues it from there"
    elif out is not None:
        message = f"stopped: {out} is left unfinished (--resume continues from its last checkpoint, if it has one)"
    else:
        message = "stopped"
    if getattr(config, "events", False):
        emit_event("stopped", step=stopped.step, message=message)
    print(f"labeler-train: {message}", file=sys.stderr)
    return EXIT_STOPPED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labeler-train",
        description="Train models from a labeler project: SFT, reward model, PPO, generation.",
    )
    parser.add_argument("--version", action="version", version=f"labeler-train {__version__}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    threads = argparse.ArgumentParser(add_help=False)
    threads.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    for name, each in COMMANDS.items():
        parents = [threads] if each.threads else []
        subparser = subcommands.add_parser(name, parents=parents, help=each.help, description=each.run.__doc__)
        add_config_options(subparser, each.config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def report_event(message: str) -> None:
        if getattr(args, "events", False):  # the app reads only stdout's events: the failure must arrive there
            emit_event("error", message=message)

    return run_command("labeler-train", lambda: _run(args), (TrainerError,), report_event)


if __name__ == "__main__":
    sys.exit(main())
