"""`labeler ...`: a thin command-line shell over the store and the app.

Every failure is one line on stderr and a non-zero exit (labeler/command_line.py).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from labeler import __version__
from labeler.bundled import bundled_text
from labeler.command_line import EXIT_ERROR, run_command
from labeler.domain import RankingError
from labeler.formats.reading import FORMATS
from labeler.formats.source_rows import FileFormatError
from labeler.store import StoreError, create_project, open_store
from labeler.wording import counted

MAX_BAD_ROWS_SHOWN = 50


def cmd_init(args: argparse.Namespace) -> int:
    path: Path = args.project
    guidelines = args.guidelines.read_text(encoding="utf-8") if args.guidelines else bundled_text("guidelines.md")
    with create_project(path, guidelines, annotators_per_prompt=args.annotators_per_prompt):
        pass
    print(f"created {path}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    # Imported here: numpy is only needed for the statistics.
    from labeler.report import format_report, project_report

    with open_store(args.project) as store:
        report = project_report(store, bootstrap=args.bootstrap, seed=args.seed)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def without_garbage_collection(command):
    """Run a bulk command with Python's cycle collector off: it would rescan the millions of
    objects an import or export holds, again and again (measured: 7 s of a 28 s export), and
    the command frees nothing cyclic before it exits."""

    def run(args: argparse.Namespace) -> int:
        gc.disable()
        try:
            return command(args)
        finally:
            gc.enable()

    return run


@without_garbage_collection
def cmd_import(args: argparse.Namespace) -> int:
    from labeler.formats.importer import ImportRejected, import_files

    with open_store(args.project) as store:
        try:
            report = import_files(store, args.files, fmt=args.format, annotator=args.annotator, rejects=args.skip_bad)
        except ImportRejected as rejected:
            for bad in rejected.bad[:MAX_BAD_ROWS_SHOWN]:
                print(f"{bad.file}:{bad.line}: {bad.reason}", file=sys.stderr)
            if len(rejected.bad) > MAX_BAD_ROWS_SHOWN:
                print(f"... and {counted(len(rejected.bad) - MAX_BAD_ROWS_SHOWN, 'more bad row')}", file=sys.stderr)
            print(
                f"labeler: error: {counted(len(rejected.bad), 'bad row')}; nothing was imported "
                "(--skip-bad REJECTS.jsonl imports the good rows and writes the bad ones there)",
                file=sys.stderr,
            )
            return EXIT_ERROR
    already = f" ({report.judgements_already_there:,} already there)" if report.judgements_already_there else ""
    print(
        f"read {counted(report.rows, 'row')}: added {counted(report.prompts_added, 'prompt')}, "
        f"{counted(report.answers_added, 'answer')}, {counted(report.judgements_added, 'judgement')}{already} "
        f"and {counted(report.pairs_added, 'pair')}"
    )
    for line in report.quirks.summary_lines():
        print(line)
    if args.skip_bad is not None:
        print(f"{counted(len(report.bad), 'bad row')} written to {args.skip_bad}")
    return 0


@without_garbage_collection
def cmd_export(args: argparse.Namespace) -> int:
    from labeler.domain import PairSelection
    from labeler.formats.export import ExportFormat, MarginColumn, export_project

    with open_store(args.project) as store:
        report = export_project(
            store,
            args.out,
            fmt=ExportFormat(args.format),
            pairs=PairSelection(args.pairs),
            test_fraction=args.test_fraction,
            seed=args.seed,
            annotators=args.annotator,
            rounds=args.round,
            margins=MarginColumn(args.margin),
        )
    splits = ", ".join(
        f"{name}: {counted(rows, 'row')} from {counted(report.prompts[name], 'prompt')}"
        for name, rows in report.rows.items()
    )
    print(f"wrote {report.out} ({splits})")
    if report.margins is not None:
        print(report.margins.summary())
    if report.chats_as_transcripts:
        print(
            f"{counted(report.chats_as_transcripts, 'chat prompt')} written as HH transcripts "
            '("\\n\\nHuman: …\\n\\nAssistant: "); --format trl-conversational keeps them as messages'
        )
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from labeler.store.snapshots import snapshot

    with open_store(args.project) as store:
        snapshot(store, args.out)
    print(f"wrote {args.out}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from labeler.store.merging import merge_packs

    with open_store(args.project) as store:
        report = merge_packs(store, args.packs)
    print(
        f"merged {counted(len(report.packs), 'pack')}: added {counted(report.prompts_added, 'prompt')}, "
        f"{counted(report.answers_added, 'answer')}, {counted(report.judgements_added, 'judgement')} "
        f"({report.judgements_already_there:,} already there), {counted(report.demonstrations_added, 'demonstration')}"
    )
    for conflict in report.conflicts:
        print(f"conflict: {conflict}", file=sys.stderr)
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    # Imported here: only the app needs Qt, and the other commands start faster without it.
    from labeler.ui.app import run_app

    return run_app(args.project, annotator=args.annotator)


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

    stats = commands.add_parser(
        "stats", help="counts, per-annotator figures, agreement and a rating per model (Bradley-Terry)"
    )
    stats.add_argument("project", type=Path, metavar="PROJECT")
    stats.add_argument("--json", action="store_true", help="print a JSON object")
    stats.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap samples for the rating intervals (default 1000)",
    )
    stats.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap (default 0)")
    stats.set_defaults(run=cmd_stats)

    to_import = commands.add_parser(
        "import", help="add prompts, answers, rankings or pairs from jsonl, json, csv or parquet files"
    )
    to_import.add_argument("project", type=Path, metavar="PROJECT")
    to_import.add_argument("files", type=Path, nargs="+", metavar="FILE")
    to_import.add_argument("--format", choices=FORMATS, help="the files' format (default: told from the content)")
    to_import.add_argument("--annotator", metavar="NAME", help="record imported judgements under this name")
    to_import.add_argument(
        "--skip-bad",
        type=Path,
        metavar="REJECTS.jsonl",
        help="import the good rows and write the bad ones, with reasons, to this file",
    )
    to_import.set_defaults(run=cmd_import)

    export = commands.add_parser("export", help="write the judgements as a preference dataset")
    export.add_argument("project", type=Path, metavar="PROJECT")
    export.add_argument(
        "out",
        type=Path,
        metavar="OUT",
        help="a .jsonl, .parquet or .csv file, or a folder for a Hugging Face DatasetDict",
    )
    export.add_argument(
        "--format",
        choices=["trl", "trl-conversational", "rankings", "csv"],
        default="trl",
        help="the file's layout: TRL's prompt/chosen/rejected (default), the same as conversations, whole "
        "rankings, or a spreadsheet",
    )
    export.add_argument(
        "--pairs",
        choices=["all", "adjacent", "best-vs-rest"],
        default="all",
        help="which pairs of each ranking: all (default), adjacent tiers only, or the best against the rest",
    )
    export.add_argument(
        "--margin",
        choices=["auto", "stated", "all", "none"],
        default="auto",
        help="pair formats' margin column, which TRL subtracts in its loss: auto (default) writes the stated "
        "margins only when every pair's margin was stated; stated writes them with 0 where none was; all the "
        "default strength 2 for every step not stated; none no column",
    )
    export.add_argument(
        "--test-fraction", type=float, metavar="F", help="hold out this share of prompts as test (default: none)"
    )
    export.add_argument("--seed", type=int, default=0, help="random seed of the train/test split (default 0)")
    export.add_argument("--annotator", nargs="+", metavar="NAME", help="only these annotators' judgements")
    export.add_argument(
        "--round", nargs="+", type=int, metavar="N", help="only the judgements of these rounds (default: every round)"
    )
    export.set_defaults(run=cmd_export)

    snapshot = commands.add_parser("snapshot", help="a consistent copy of a project, while others keep working")
    snapshot.add_argument("project", type=Path, metavar="PROJECT")
    snapshot.add_argument("out", type=Path, metavar="OUT")
    snapshot.set_defaults(run=cmd_snapshot)

    merge = commands.add_parser("merge", help="bring in other annotators' project files (by judgement uuid)")
    merge.add_argument("project", type=Path, metavar="PROJECT")
    merge.add_argument("packs", type=Path, nargs="+", metavar="PACK")
    merge.set_defaults(run=cmd_merge)

    gui = commands.add_parser("gui", help="open the app on a project")
    gui.add_argument("project", type=Path, nargs="?", metavar="PROJECT", help="default: the demo project")
    gui.add_argument("--annotator", metavar="NAME", help="the name stamped on judgements (asked once if not given)")
    gui.set_defaults(run=cmd_gui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui", *(argv or [])])
    return run_command("labeler", lambda: args.run(args), (StoreError, RankingError, FileFormatError))


if __name__ == "__main__":
    sys.exit(main())
