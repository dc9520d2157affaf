"""`labeler ...`: a thin command-line shell over the store and the app.

Every failure is one line on stderr and a non-zero exit; a traceback is shown only with
LABELER_DEBUG=1 set (for bug reports).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from labeler import __version__
from labeler.bundled import bundled_text
from labeler.domain import RankingError
from labeler.store import StoreError, open_store

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def cmd_init(args: argparse.Namespace) -> int:
    path: Path = args.project
    if args.annotators_per_prompt < 1:
        raise StoreError("--annotators-per-prompt must be at least 1")
    if path.exists() and path.stat().st_size > 0:
        raise StoreError(f"{path}: already exists; choose a new file name")
    guidelines = args.guidelines.read_text(encoding="utf-8") if args.guidelines else bundled_text("guidelines.md")
    with open_store(path, create=True) as store:
        store.set_setting("annotators_per_prompt", args.annotators_per_prompt)
        store.add_guidelines(guidelines)
    print(f"created {path}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with open_store(args.project) as store:
        stats = dataclasses.asdict(store.stats())
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        width = max(len(name) for name in stats)
        for name, value in stats.items():
            print(f"{name.replace('_', ' '):<{width}}  {value:>10,}")
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    # Imported here: only the app needs Qt, and the other commands start faster without it.
    from labeler.ui.app import run_app

    return run_app(args.project)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labeler",
        description="Rank model answers and build preference datasets. "
        "With no command, opens the app on the bundled demo project.",
    )
    parser.add_argument("--version", action="version", version=f"labeler {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    init = commands.add_parser("init", help="create a new, empty project file")
    init.add_argument("project", type=Path, metavar="PROJECT", help="path of the new project file")
    init.add_argument(
        "--annotators-per-prompt",
        type=int,
        default=1,
        metavar="N",
        help="how many annotators should judge each prompt (default 1)",
    )
    init.add_argument(
        "--guidelines",
        type=Path,
        metavar="FILE",
        help="annotator guidelines as a markdown file (default: the bundled guidelines)",
    )
    init.set_defaults(run=cmd_init)

    stats = commands.add_parser("stats", help="count prompts, answers, judgements, pairs and annotators")
    stats.add_argument("project", type=Path, metavar="PROJECT")
    stats.add_argument("--json", action="store_true", help="print the counts as a JSON object")
    stats.set_defaults(run=cmd_stats)

    gui = commands.add_parser("gui", help="open the app on a project")
    gui.add_argument("project", type=Path, nargs="?", metavar="PROJECT", help="default: the demo project")
    gui.set_defaults(run=cmd_gui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui", *(argv or [])])
    try:
        return args.run(args)
    except (StoreError, RankingError) as error:
        print(f"labeler: error: {error}", file=sys.stderr)
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(f"labeler: error: {where}{error.strerror or error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("labeler: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if os.environ.get("LABELER_DEBUG"):
            raise
        print(
            f"labeler: internal error: {type(error).__name__}: {error} (run again with LABELER_DEBUG=1 to see where)",
            file=sys.stderr,
        )
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
