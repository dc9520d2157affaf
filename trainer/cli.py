"""`labeler-train ...`: the trainer's command line.

The training stack (torch, transformers, trl, ...) is the optional `train` extra, imported by the
commands that need it, so `--help` is instant and a missing extra gets a one-line answer.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from labeler import __version__
from trainer.errors import TrainerError
from trainer.events import emit_event

EXIT_ERROR = 1
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


# Options that only fine-tuning reads: with --tune head they would be silently ignored, so they are refused
# (their defaults live on RewardConfig; the parser leaves them out of the namespace unless given).
FINE_TUNING_OPTIONS = (
    "loss", "epochs", "batch_size", "learning_rate", "disable_dropout", "group_by_length", "save_steps", "resume",
)  # fmt: skip


def cmd_reward(args: argparse.Namespace) -> int:
    """Train a reward model on the project's current rankings."""
    out = Path(args.out)
    fine_tuning = {name: getattr(args, name) for name in FINE_TUNING_OPTIONS if hasattr(args, name)}
    if args.tune == "head" and fine_tuning:
        given = ", ".join("--" + name.replace("_", "-") for name in fine_tuning)
        raise TrainerError(f"{given}: for fine-tuning the whole model, add --tune all (--tune head is the default)")
    if args.tune == "all" and args.head_l2 is not None:
        raise TrainerError("--head-l2 is for --tune head (the default), not --tune all")
    _set_threads(args.threads)
    from trainer.reward import RewardConfig, train_reward

    config = RewardConfig(
        project=Path(args.project),
        out=out,
        base=args.base,
        tune=args.tune,
        layers=args.layers,
        **({"head_l2": args.head_l2} if args.head_l2 is not None else {}),
        annotators=tuple(args.annotator or ()),
        eval_fraction=args.eval_fraction,
        folds=args.folds,
        fold=args.fold,
        seed=args.seed,
        max_length=args.max_length,
        weighting=args.weighting,
        margin=args.margin,
        margin_scale=args.margin_scale,
        bf16=args.bf16,
        events=args.events,
        **fine_tuning,
    )
    metrics = train_reward(config)
    return _report_done(args, metrics, lambda: _summary(metrics, out))


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
            f"{accuracy:.1%} of {metrics['eval_pairs']:,} held-out pairs ordered as the annotators did "
            f"(the longer answer wins {metrics['eval_longer_wins']:.1%} of them)"
        )
    cut = metrics["prompts_cut"] + metrics["answers_cut"]
    return (
        f"reward model saved to {out}: {shown}; trained on "
        f"{metrics['train_pairs']:,} pairs from {metrics['train_prompts']:,} prompts in {metrics['seconds']:.0f} s"
        + (f"; {cut:,} inputs cut to --max-length (see metrics.json)" if cut else "")
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
            f"accuracy {result['accuracy']:.4f} over {result['pairs']:,} pairs, mean margin {result['mean_margin']:.4f}"
            f"; on the same pairs, the longer answer wins {result['longer_wins']:.4f}, the first shown "
            + ("— (pairs carry no display order)" if first is None else f"{first:.4f}")
        )
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Write the model's score for every answer of the project into the project."""
    _set_threads(args.threads)
    from trainer.evaluation import score_project

    written, name = score_project(Path(args.model), Path(args.project), args.max_length, args.name)
    print(f"{written:,} answers scored by {name}")
    return 0


def cmd_sft(args: argparse.Namespace) -> int:
    """Supervised fine-tuning on the project's written answers (and, optionally, its best-ranked ones)."""
    _set_threads(args.threads)
    from trainer.sft import SFTConfig, train_sft

    metrics = train_sft(
        SFTConfig(
            project=Path(args.project),
            out=Path(args.out),
            base=args.base,
            include_best=args.include_best,
            annotators=tuple(args.annotator or ()),
            eval_fraction=args.eval_fraction,
            seed=args.seed,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            max_length=args.max_length,
            save_steps=args.save_steps,
            resume=args.resume,
            events=args.events,
        )
    )
    held_out = metrics["eval_loss_after"]
    return _report_done(
        args,
        metrics,
        lambda: (
            f"model saved to {args.out}: loss on its {metrics['train_examples']:,} examples "
            f"{metrics['train_loss_before']:.3f} -> {metrics['train_loss_after']:.3f}"
            + ("" if held_out is None else f", on held-out prompts {metrics['eval_loss_before']:.3f} -> {held_out:.3f}")
        ),
    )


def cmd_generate(args: argparse.Namespace) -> int:
    """Sample K answers per prompt from a policy and add them to the project."""
    _set_threads(args.threads)
    from trainer.generate import GenerateConfig, generate

    result = generate(
        GenerateConfig(
            project=Path(args.project),
            policy=args.policy,
            k=args.k,
            prompts=args.prompts,
            temperature=args.temperature,
            top_p=args.top_p,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            seed=args.seed,
            model_name=args.model_name,
            events=args.events,
        )
    )
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
            f"{result.answers_added:,} answers by {result.model} added to {result.prompts:,} prompts"
            + (f" ({result.empty:,} of them empty: kept, an empty reply is a real answer)" if result.empty else "")
            + (f"; {left_out:,} left out (duplicate, or no room: at most 9 answers a prompt)" if left_out else "")
            + (f"; {result.prompts_full:,} prompts already had 9 answers" if result.prompts_full else "")
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labeler-train",
        description="Train models from a labeler project: SFT, reward model, PPO, generation.",
    )
    parser.add_argument("--version", action="version", version=f"labeler-train {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    env = commands.add_parser("env", help="show the training stack's versions, threads and embedded models")
    env.add_argument("--json", action="store_true", help="print a JSON object")
    env.set_defaults(run=cmd_env)

    reward = commands.add_parser(
        "reward",
        help="train a reward model on the project's rankings",
        description="Train a reward model on the project's current rankings (a snapshot: annotators can keep "
        "working). Writes a Hugging Face model folder and metrics.json to --out.",
    )
    reward.add_argument("project", metavar="PROJECT")
    reward.add_argument("--out", required=True, metavar="DIR", help="where the model and metrics.json go")
    reward.add_argument("--base", default="smollm2", help="smollm2 (default), minilm or a Hugging Face model folder")
    reward.add_argument(
        "--tune",
        choices=("head", "all"),
        default="head",
        help="head (default): keep the body frozen and fit a linear head on the mean of its last kept layer (one "
        "forward pass per answer, no backward); all: fine-tune the whole model (the options under 'fine-tuning')",
    )
    reward.add_argument(
        "--layers",
        type=int,
        metavar="N",
        help="keep only the base's first N layers, 0 for all (default: 20 for smollm2 under --tune head, else all)",
    )
    reward.add_argument(
        "--head-l2", type=float, metavar="L2", help="--tune head: L2 on the head's weights (default 0.1)"
    )
    reward.add_argument(
        "--annotator", action="extend", nargs="+", metavar="NAME", help="only these annotators' judgements"
    )
    reward.add_argument("--eval-fraction", type=float, default=0.1, help="share of prompts held out (default 0.1)")
    reward.add_argument(
        "--folds",
        type=int,
        default=0,
        metavar="K",
        help="k-fold cross-validation by prompt: hold out fold --fold of K instead of --eval-fraction",
    )
    reward.add_argument("--fold", type=int, default=1, metavar="I", help="which fold to hold out, 1..K (default 1)")
    reward.add_argument("--seed", type=int, default=0)
    reward.add_argument(
        "--max-length", type=int, default=512, help="tokens per prompt and answer; longer prompts lose their start"
    )
    reward.add_argument(
        "--weighting",
        choices=("prompt", "pair"),
        default="prompt",
        help="each ranking weighs the same in the loss (default), or each pair",
    )
    reward.add_argument(
        "--margin",
        choices=("none", "scaled"),
        default="none",
        help="what the loss subtracts from r_chosen - r_rejected: none, 0 (default); scaled, --margin-scale times "
        "the margin the annotators stated (0 for a pair whose strength nobody stated)",
    )
    reward.add_argument(
        "--margin-scale",
        type=float,
        default=1.0,
        metavar="S",
        help="logits per unit of stated margin with --margin scaled (default 1)",
    )
    reward.add_argument(
        "--bf16",
        choices=("auto", "on", "off"),
        default="auto",
        help="bf16 autocast (weights stay fp32); auto: where the GPU or CPU computes bf16 natively",
    )
    # Left out of the namespace unless given, so cmd_reward can refuse them under --tune head.
    fine_tuning = reward.add_argument_group("fine-tuning", "with --tune all only")
    fine_tuning.add_argument(
        "--loss",
        choices=("grouped", "pairwise"),
        default=argparse.SUPPRESS,
        help="grouped: each ranking's answers forwarded once (default); pairwise: TRL's RewardTrainer",
    )
    fine_tuning.add_argument(
        "--epochs", type=int, default=argparse.SUPPRESS, help="passes over the training rankings (default 1)"
    )
    fine_tuning.add_argument(
        "--batch-size",
        type=int,
        default=argparse.SUPPRESS,
        help="answers forwarded per step (pairwise: half as many pairs; default 32)",
    )
    fine_tuning.add_argument(
        "--learning-rate",
        type=float,
        default=argparse.SUPPRESS,
        help="AdamW's learning rate, decayed linearly to 0 (default 6e-5)",
    )
    fine_tuning.add_argument(
        "--disable-dropout",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help="train without dropout, as TRL's RewardTrainer does (default; faster and leaner on a CPU)",
    )
    fine_tuning.add_argument(
        "--group-by-length",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help="batch rankings of similar length together (default; far less padding on real text)",
    )
    fine_tuning.add_argument(
        "--save-steps", type=int, default=argparse.SUPPRESS, help="a checkpoint every N steps (0: none; default 500)"
    )
    fine_tuning.add_argument(
        "--resume", action="store_true", default=argparse.SUPPRESS, help="continue from the last checkpoint in --out"
    )
    reward.add_argument("--events", action="store_true", help="print progress as JSON lines (for the app)")
    reward.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    reward.set_defaults(run=cmd_reward)

    evaluate = commands.add_parser(
        "eval-reward",
        help="a reward model's accuracy on a pairs file",
        description="Accuracy of a reward model on a file of pairs (TRL standard, implicit prompt, "
        "conversational, HH transcripts) or rankings, in any format `labeler import` reads.",
    )
    evaluate.add_argument("model", metavar="MODEL_DIR")
    evaluate.add_argument("file", metavar="FILE")
    evaluate.add_argument("--json", action="store_true", help="print a JSON object")
    evaluate.add_argument("--max-length", type=int, default=512)
    evaluate.add_argument("--threads", type=int)
    evaluate.set_defaults(run=cmd_eval_reward)

    score = commands.add_parser(
        "score",
        help="store a reward model's score for every answer in the project",
        description="Score every answer of the project with a reward model and store the scores in the project "
        "under the model's name, so the app can show where the model and the annotators disagree.",
    )
    score.add_argument("model", metavar="MODEL_DIR")
    score.add_argument("project", metavar="PROJECT")
    score.add_argument("--name", help="the name to store the scores under (default: the model folder's name)")
    score.add_argument("--max-length", type=int, default=512)
    score.add_argument("--threads", type=int)
    score.set_defaults(run=cmd_score)

    sft = commands.add_parser(
        "sft",
        help="supervised fine-tuning on the answers annotators wrote",
        description="Fine-tune a policy on the project's demonstrations (answers annotators wrote or rewrote) with "
        "TRL's SFTTrainer and the model's chat template; --include-best adds each ranking's best answers.",
    )
    sft.add_argument("project", metavar="PROJECT")
    sft.add_argument("--out", required=True, metavar="DIR", help="where the tuned model and metrics.json go")
    sft.add_argument("--base", default="smollm2", help="smollm2 or a causal language model folder (default smollm2)")
    sft.add_argument("--include-best", action="store_true", help="also learn the top tier of every current ranking")
    sft.add_argument(
        "--annotator", action="extend", nargs="+", metavar="NAME", help="only these annotators' judgements"
    )
    sft.add_argument("--eval-fraction", type=float, default=0.1, help="share of prompts held out (default 0.1)")
    sft.add_argument("--seed", type=int, default=0)
    sft.add_argument("--epochs", type=int, default=1)
    sft.add_argument("--batch-size", type=int, default=8)
    sft.add_argument("--learning-rate", type=float, default=2e-5)
    sft.add_argument("--max-length", type=int, default=1024, help="tokens per example; longer ones are cut at the end")
    sft.add_argument("--save-steps", type=int, default=500, help="a checkpoint every N steps (0: none)")
    sft.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    sft.add_argument("--events", action="store_true", help="print progress as JSON lines (for the app)")
    sft.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    sft.set_defaults(run=cmd_sft)

    gen = commands.add_parser(
        "generate",
        help="add K sampled answers per prompt from a policy to the project",
        description="Sample K answers per prompt from a policy and add them to the project (with the model's name "
        "and sampling settings), so annotators can rank what the new policy says. A prompt keeps 9 answers at most.",
    )
    gen.add_argument("project", metavar="PROJECT")
    gen.add_argument("--policy", default="smollm2", help="smollm2 or a causal language model folder (default smollm2)")
    gen.add_argument("-k", type=int, default=4, help="answers per prompt (default 4)")
    gen.add_argument(
        "--prompts",
        default="unjudged",
        metavar="unjudged|all|FILE",
        help="the prompts nobody has judged (default), all of them, or a file's (any format labeler import reads)",
    )
    gen.add_argument("--temperature", type=float, default=0.7)
    gen.add_argument("--top-p", type=float, default=0.95)
    gen.add_argument("--max-new-tokens", type=int, default=256)
    gen.add_argument("--batch-size", type=int, default=8, help="prompts per batch")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--model-name", help="the model name stored with the answers (default: the policy's name)")
    gen.add_argument("--events", action="store_true", help="print progress as JSON lines (for the app)")
    gen.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    gen.set_defaults(run=cmd_generate)

    ppo = commands.add_parser(
        "ppo",
        help="tune a policy against a reward model with PPO (or TRL's RLOO)",
        description="Tune a policy with PPO against a reward model trained by `labeler-train reward`, on the "
        "project's prompts (or --prompts FILE). Writes the policy as a Hugging Face model folder, metrics.jsonl "
        "(a line per step), samples.jsonl and metrics.json to --out.",
    )
    ppo.add_argument("project", metavar="PROJECT")
    ppo.add_argument("--policy", default="smollm2", help="smollm2 or a causal language model folder (default smollm2)")
    ppo.add_argument("--reward", required=True, metavar="DIR", help="a reward model folder from labeler-train reward")
    ppo.add_argument("--out", required=True, metavar="DIR", help="where the policy and its logs go")
    ppo.add_argument("--prompts", metavar="FILE", help="train on this file's prompts (any format labeler import reads)")
    ppo.add_argument(
        "--algo", choices=("ppo", "rloo"), default="ppo", help="ppo: our loop (default); rloo: TRL's RLOOTrainer"
    )
    ppo.add_argument("--steps", type=int, default=100, help="rollout batches (default 100)")
    ppo.add_argument("--batch-size", type=int, default=16, help="responses sampled per step (default 16)")
    ppo.add_argument("--mini-batch-size", type=int, default=8, help="responses per optimiser step (default 8)")
    ppo.add_argument("--ppo-epochs", type=int, default=4, help="passes over each batch (default 4)")
    ppo.add_argument("--learning-rate", type=float, default=3e-6)
    ppo.add_argument("--response-length", type=int, default=53, help="new tokens at most per response (default 53)")
    ppo.add_argument("--max-prompt-length", type=int, default=512, help="prompt tokens kept, from the end")
    ppo.add_argument("--temperature", type=float, default=0.7)
    ppo.add_argument("--top-p", type=float, default=1.0)
    ppo.add_argument("--kl-coef", type=float, default=0.05, help="β of the KL penalty (the start with --target-kl)")
    ppo.add_argument("--kl-estimator", choices=("k1", "k3"), default="k1")
    ppo.add_argument("--target-kl", type=float, help="adapt β so the KL per response tracks this")
    ppo.add_argument("--kl-horizon", type=int, default=10_000, help="episodes for the adaptive β to move ±20%%")
    ppo.add_argument("--missing-eos-penalty", type=float, help="subtracted from the score of an answer that never ends")
    ppo.add_argument("--gamma", type=float, default=1.0)
    ppo.add_argument("--lam", type=float, default=0.95)
    ppo.add_argument("--clip-range", type=float, default=0.2)
    ppo.add_argument("--clip-range-value", type=float, default=0.2)
    ppo.add_argument("--value-coef", type=float, default=0.1)
    ppo.add_argument("--max-grad-norm", type=float, default=1.0)
    ppo.add_argument("--lora", action="store_true", help="train LoRA adapters; the reference is the adapters off")
    ppo.add_argument("--lora-rank", type=int, default=16)
    ppo.add_argument("--lora-alpha", type=int, default=32)
    ppo.add_argument("--rloo-generations", type=int, default=2, help="rloo: responses per prompt (default 2)")
    ppo.add_argument("--seed", type=int, default=0)
    ppo.add_argument("--sample-every", type=int, default=10, help="write sample answers every N steps (0: none)")
    ppo.add_argument("--save-steps", type=int, default=50, help="a checkpoint every N steps (0: none)")
    ppo.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    ppo.add_argument("--events", action="store_true", help="print progress as JSON lines (for the app)")
    ppo.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    ppo.set_defaults(run=cmd_ppo)
    return parser


def cmd_ppo(args: argparse.Namespace) -> int:
    """Tune a policy against a reward model with PPO (or TRL's RLOO)."""
    out = Path(args.out)
    _set_threads(args.threads)
    from trainer.ppo import PPOConfig, train_ppo

    config = PPOConfig(
        project=Path(args.project),
        out=out,
        reward=Path(args.reward),
        policy=args.policy,
        prompts_file=Path(args.prompts) if args.prompts else None,
        algo=args.algo,
        steps=args.steps,
        batch_size=args.batch_size,
        mini_batch_size=args.mini_batch_size,
        ppo_epochs=args.ppo_epochs,
        learning_rate=args.learning_rate,
        response_length=args.response_length,
        max_prompt_length=args.max_prompt_length,
        temperature=args.temperature,
        top_p=args.top_p,
        kl_coef=args.kl_coef,
        kl_estimator=args.kl_estimator,
        target_kl=args.target_kl,
        kl_horizon=args.kl_horizon,
        missing_eos_penalty=args.missing_eos_penalty,
        gamma=args.gamma,
        lam=args.lam,
        clip_range=args.clip_range,
        clip_range_value=args.clip_range_value,
        value_coef=args.value_coef,
        max_grad_norm=args.max_grad_norm,
        lora=args.lora,
        lora_rank=args.lora_rank,
        lora_alpha=args.lora_alpha,
        rloo_generations=args.rloo_generations,
        seed=args.seed,
        sample_every=args.sample_every,
        save_steps=args.save_steps,
        resume=args.resume,
        events=args.events,
    )
    metrics = train_ppo(config)
    score = metrics["last_score"]
    shown = "no step run" if score is None else f"mean score {metrics['first_score']:.3f} -> {score:.3f}"
    kl = "" if metrics["last_kl"] is None else f", KL {metrics['last_kl']:.3f}"
    return _report_done(
        args,
        metrics,
        lambda: (
            f"policy saved to {out} ({metrics['algo']}, {metrics['steps']} steps, {metrics['episodes']:,} episodes): "
            f"{shown}{kl}, {metrics['seconds']:.0f} s"
        ),
    )


def _report_error(args: argparse.Namespace, message: str) -> None:
    # The app reads only stdout's events: the failure must arrive there too.
    if getattr(args, "events", False):
        emit_event("error", message=message)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except TrainerError as error:
        _report_error(args, str(error))
        print(f"labeler-train: error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("labeler-train: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("LABELER_DEBUG"):
            raise
        _report_error(args, f"internal error: {type(error).__name__}: {error}")
        print(
            f"labeler-train: internal error: {type(error).__name__}: {error} "
            "(run again with LABELER_DEBUG=1 to see where)",
            file=sys.stderr,
        )
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
