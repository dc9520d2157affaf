"""`labeler export`: the project's current judgements as a dataset people's training code reads.

Formats:
  trl                 {"prompt", "chosen", "rejected", "margin"}: the columns TRL's RewardTrainer and
                      DPOTrainer read (text prompts);
  trl-conversational  the same with message lists (a text prompt becomes one user message);
  rankings            one row per judgement, with everything the annotator recorded;
  csv                 the trl columns plus the annotator, spreadsheet-safe.
OUT ending in .jsonl, .parquet or .csv is one file; any other OUT is a folder holding a Hugging Face
DatasetDict (save_to_disk), split into train and test by prompt when a test fraction is given.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from labeler.domain import PairSelection, Ranking, select_pairs
from labeler.store import Prompt, Store, StoreError
from labeler.store.exporting import CurrentJudgement, current_judgements, current_pairs, prompts_with_answers


class ExportFormat(StrEnum):
    TRL = "trl"
    TRL_CONVERSATIONAL = "trl-conversational"
    RANKINGS = "rankings"
    CSV = "csv"


class ExportError(StoreError):
    """An export that cannot be made as asked; nothing was written."""


FILE_SUFFIXES = (".jsonl", ".parquet", ".csv")
# A cell starting with one of these is run as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportReport:
    out: Path
    rows: dict[str, int]  # split -> rows
    prompts: dict[str, int]  # split -> prompts


def export_project(
    store: Store,
    out: Path,
    *,
    fmt: ExportFormat = ExportFormat.TRL,
    pairs: PairSelection = PairSelection.ALL,
    test_fraction: float | None = None,
    seed: int = 0,
    annotators: Sequence[str] | None = None,
) -> ExportReport:
    out = Path(out)
    _check_destination(out, fmt, test_fraction)
    if fmt is ExportFormat.RANKINGS:
        judgements = current_judgements(store, annotators)
        prompts = prompts_with_answers(store, [j.prompt_id for j in judgements])
        rows = [(j.prompt_id, _ranking_row(j, prompts[j.prompt_id])) for j in judgements]
    else:
        rows = _pair_rows(store, fmt, pairs, annotators)
    if not rows:
        who = f" by {', '.join(annotators)}" if annotators else ""
        raise ExportError(f"nothing to export: the project has no current judgements{who}")
    splits = _split_by_prompt(rows, test_fraction, seed)
    tables = {name: [row for _, row in split] for name, split in splits.items()}
    _write(out, fmt, tables)
    return ExportReport(
        out,
        {name: len(split) for name, split in splits.items()},
        {name: len({prompt for prompt, _ in split}) for name, split in splits.items()},
    )


def _check_destination(out: Path, fmt: ExportFormat, test_fraction: float | None) -> None:
    if test_fraction is not None and not 0 < test_fraction < 1:
        raise ExportError(f"--test-fraction must be between 0 and 1, got {test_fraction}")
    is_file = out.suffix in FILE_SUFFIXES
    if (out.suffix == ".csv") != (fmt is ExportFormat.CSV):
        raise ExportError(f"{out}: the csv format writes a .csv file, and only it does")
    if is_file and test_fraction is not None:
        raise ExportError(f"{out}: a train/test split is written to a folder (a DatasetDict); give a folder")
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise ExportError(f"{out}: already exists; choose a new name")
    if not out.parent.is_dir():
        raise ExportError(f"{out}: the folder {out.parent} does not exist")


# -- rows ------------------------------------------------------------------------------------------


def _pair_rows(
    store: Store, fmt: ExportFormat, selection: PairSelection, annotators: Sequence[str] | None
) -> list[tuple[int, dict[str, Any]]]:
    if selection is PairSelection.ALL:  # the stored pairs: no need to rebuild rankings
        found = [(p.prompt_id, p.chosen, p.rejected, p.margin, p.annotator) for p in current_pairs(store, annotators)]
    else:
        found = [
            (j.prompt_id, pair.chosen, pair.rejected, pair.margin, j.annotator)
            for j in current_judgements(store, annotators)
            if j.tiers is not None
            for pair in select_pairs(Ranking(tuple(map(tuple, j.tiers)), tuple(j.strengths)), selection)
        ]
    prompts = prompts_with_answers(store, [row[0] for row in found])
    texts = {answer.id: answer.text for prompt in prompts.values() for answer in prompt.answers}
    if fmt is ExportFormat.TRL:
        chats = sum(prompt.kind == "chat" for prompt in prompts.values())
        if chats:
            raise ExportError(
                f"{chats} of the prompts are chats, which the trl format cannot hold as text: "
                "use --format trl-conversational"
            )
    shape: Callable[[Prompt, str, str], tuple[Any, Any, Any]] = {
        ExportFormat.TRL: lambda prompt, chosen, rejected: (prompt.content, chosen, rejected),
        ExportFormat.TRL_CONVERSATIONAL: _conversational,
        ExportFormat.CSV: lambda prompt, chosen, rejected: (_prompt_text(prompt), chosen, rejected),
    }[fmt]
    rows = []
    for prompt_id, chosen, rejected, margin, annotator in found:
        prompt, chosen_text, rejected_text = shape(prompts[prompt_id], texts[chosen], texts[rejected])
        row = {"prompt": prompt, "chosen": chosen_text, "rejected": rejected_text, "margin": margin}
        if fmt is ExportFormat.CSV:
            row["annotator"] = annotator
        rows.append((prompt_id, row))
    return rows


def _conversational(prompt: Prompt, chosen: str, rejected: str) -> tuple[list, list, list]:
    messages = prompt.content if prompt.kind == "chat" else [{"role": "user", "content": prompt.content}]
    return (
        [{"role": m["role"], "content": m["content"]} for m in messages],
        [{"role": "assistant", "content": chosen}],
        [{"role": "assistant", "content": rejected}],
    )


def _prompt_text(prompt: Prompt) -> str:
    return prompt.content if prompt.kind == "text" else json.dumps(prompt.content, ensure_ascii=False)


def _ranking_row(judgement: CurrentJudgement, prompt: Prompt) -> dict[str, Any]:
    """One judgement as the importer's ranking row, plus everything else the annotator recorded.

    Answers are listed in the prompt's order; ranking and display_order are 0-based indices into
    that list, and flags[i] are the flags on answer i.
    """
    index = {answer.id: i for i, answer in enumerate(prompt.answers)}
    return {
        "uuid": judgement.uuid,
        "id": prompt.external_id or str(prompt.id),
        "prompt": prompt.content,
        "answers": [{"text": a.text, "model": a.model} for a in prompt.answers],
        "annotator": judgement.annotator,
        "outcome": judgement.outcome,
        "ranking": [[index[a] for a in tier] for tier in judgement.tiers] if judgement.tiers else None,
        "strengths": judgement.strengths,
        "skip_reason": judgement.skip_reason,
        "display_order": [index[a] for a in judgement.display_order],
        "flags": [judgement.flags.get(str(a.id), []) for a in prompt.answers],
        "likert": judgement.likert,
        "comment": judgement.comment,
        "seconds_spent": judgement.seconds_spent,
        "guideline_version": judgement.guideline_version,
        "created_at": judgement.created_at,
    }


def _split_by_prompt(
    rows: list[tuple[int, dict[str, Any]]], test_fraction: float | None, seed: int
) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """train (and test): every row of a prompt lands in the same split."""
    if test_fraction is None:
        return {"train": rows}
    prompt_ids = sorted({prompt_id for prompt_id, _ in rows})
    random.Random(seed).shuffle(prompt_ids)
    test_count = min(max(1, round(test_fraction * len(prompt_ids))), len(prompt_ids) - 1)
    if test_count < 1:
        raise ExportError("a train/test split needs judgements of at least two prompts")
    test = set(prompt_ids[:test_count])
    return {
        "train": [row for row in rows if row[0] not in test],
        "test": [row for row in rows if row[0] in test],
    }


# -- writing ---------------------------------------------------------------------------------------


def _write(out: Path, fmt: ExportFormat, tables: dict[str, list[dict[str, Any]]]) -> None:
    """Write under a temporary name beside `out`, then rename: a failed export leaves nothing."""
    temporary = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        target = temporary / out.name
        if out.suffix == ".jsonl":
            _write_jsonl(target, tables["train"])
        elif out.suffix == ".parquet":
            _write_parquet(target, tables["train"])
        elif out.suffix == ".csv":
            _write_csv(target, tables["train"])
        else:
            _write_dataset_dict(target, tables)
        if out.is_dir():
            out.rmdir()  # an empty folder given as OUT
        os.replace(target, out)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _arrow_table(rows: list[dict[str, Any]]):
    import pyarrow as pa

    mixed = {type(row["prompt"]) for row in rows if "prompt" in row}
    if len(mixed) > 1:
        raise ExportError(
            "the project mixes text and chat prompts, which one table column cannot hold: "
            "export to .jsonl, or use --format trl-conversational"
        )
    return pa.Table.from_pylist(rows)


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow.parquet as pq

    pq.write_table(_arrow_table(rows), path)


def _write_dataset_dict(path: Path, tables: dict[str, list[dict[str, Any]]]) -> None:
    # Imported here: `datasets` takes seconds to import and only this output needs it.
    from datasets import Dataset, DatasetDict

    DatasetDict({name: Dataset(_arrow_table(rows)) for name, rows in tables.items()}).save_to_disk(str(path))


def spreadsheet_safe(cell: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, made inert with a leading apostrophe."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({key: spreadsheet_safe(value) for key, value in row.items()})
