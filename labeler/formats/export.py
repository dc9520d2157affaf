"""`labeler export`: the project's current judgements as a dataset people's training code reads.

Formats:
  trl                 {"prompt", "chosen", "rejected", "margin"}: the columns TRL's RewardTrainer and
                      DPOTrainer read (text prompts);
  trl-conversational  the same with message lists (a text prompt becomes one user message);
  rankings            one row per judgement, with everything the annotator recorded;
  csv                 the trl columns plus the annotator, spreadsheet-safe.
OUT ending in .jsonl, .parquet or .csv is one file; any other OUT is a folder holding a Hugging Face
DatasetDict (save_to_disk), split into train and test by prompt when a test fraction is given.

TRL's RewardTrainer subtracts a `margin` column inside its loss, so a pair format writes one only as
MarginColumn says: by default only when every exported pair's margin was stated, never a default
nobody chose.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labeler.domain import PairSelection, select_pairs
from labeler.formats.spreadsheet import spreadsheet_safe
from labeler.store import Prompt, Store, StoreError
from labeler.store.bulk_reads import (
    NOT_STATED,
    CurrentJudgement,
    all_answer_texts,
    all_prompt_contents,
    current_judgements,
    current_pair_columns,
    current_rankings,
    pair_columns,
)
from labeler.store.own_files import refuse_open_project_file
from labeler.wording import counted


class ExportFormat(StrEnum):
    TRL = "trl"
    TRL_CONVERSATIONAL = "trl-conversational"
    RANKINGS = "rankings"
    CSV = "csv"


class MarginColumn(StrEnum):
    """Whether and how the pair formats write a `margin` column."""

    AUTO = "auto"  # the stated margins, when every exported pair's margin was stated; else no column
    STATED = "stated"  # the stated margins, 0 where none was stated (TRL reads 0 as "no margin")
    ALL = "all"  # the default strength (2) for every step not stated: what the export wrote before m004
    NONE = "none"  # no margin column


class ExportError(StoreError):
    """An export that cannot be made as asked; nothing was written."""


FILE_SUFFIXES = (".jsonl", ".parquet", ".csv")


@dataclass(frozen=True)
class MarginReport:
    """What the margin column of a pair export holds."""

    asked: MarginColumn
    pairs: int  # exported
    stated: int  # exported pairs whose margin was stated

    @property
    def written(self) -> bool:
        if self.asked is MarginColumn.AUTO:
            return self.stated == self.pairs
        return self.asked is not MarginColumn.NONE

    def summary(self) -> str:
        stated = f"{self.stated:,} of {counted(self.pairs, 'pair')} had a stated margin"
        if self.asked is MarginColumn.NONE:
            return f"no margin column (--margin none); {stated}"
        if not self.written:
            return (
                f"no margin column: only {stated} (--margin stated writes those and 0 for the rest, "
                "--margin all the default strength 2 for every step not stated)"
            )
        if self.asked is MarginColumn.ALL:
            return f"margin column: {stated}; the default strength 2 stands in for every step not stated"
        if self.stated < self.pairs:
            return f"margin column: {stated}; 0 (no margin) for the rest"
        return f"margin column: every pair's margin was stated ({counted(self.pairs, 'pair')})"


@dataclass(frozen=True)
class ExportReport:
    out: Path
    rows: dict[str, int]  # split -> rows
    prompts: dict[str, int]  # split -> prompts
    margins: MarginReport | None = None  # None for the rankings format, which has no margin column
    chats_as_transcripts: int = 0  # trl: chat prompts written as HH transcripts


def export_project(
    store: Store,
    out: Path,
    *,
    fmt: ExportFormat = ExportFormat.TRL,
    pairs: PairSelection = PairSelection.ALL,
    test_fraction: float | None = None,
    seed: int = 0,
    annotators: Sequence[str] | None = None,
    rounds: Sequence[int] | None = None,
    margins: MarginColumn = MarginColumn.AUTO,
) -> ExportReport:
    out = Path(out)
    _check_destination(out, fmt, test_fraction)
    margin_report, chats = None, 0
    if fmt is ExportFormat.RANKINGS:
        judgements = current_judgements(store, annotators, rounds)
        _refuse_nothing(len(judgements), annotators, rounds)
        prompts = store.prompts([j.prompt_id for j in judgements])
        table = _rows_table([{"prompt_id": j.prompt_id, **_ranking_row(j, prompts[j.prompt_id])} for j in judgements])
        split_rows = _split_by_prompt(table["prompt_id"].to_numpy(), test_fraction, seed)
        splits = {name: table.filter(pa.array(rows)) for name, rows in split_rows.items()}
    else:
        splits, chats = _pair_tables(store, fmt, pairs, annotators, rounds, test_fraction, seed)
        margin_report = MarginReport(
            margins,
            pairs=sum(split.num_rows for split in splits.values()),
            stated=sum(split.num_rows - split["stated"].null_count for split in splits.values()),
        )
        splits = {name: _with_margins(split, margin_report) for name, split in splits.items()}
    _write(out, {name: split.drop_columns(["prompt_id"]) for name, split in splits.items()})
    return ExportReport(
        out,
        {name: split.num_rows for name, split in splits.items()},
        {name: len(pc.unique(split["prompt_id"])) for name, split in splits.items()},
        margin_report,
        chats if fmt is ExportFormat.TRL else 0,
    )


def _with_margins(table: pa.Table, margins: MarginReport) -> pa.Table:
    """The pair table with the margin column the report says (if any) in place of its working columns
    `margin` (the default filled in) and `stated` (null where none was stated)."""
    # AUTO writes a column only when every margin was stated: then the stated margins are all there is.
    margin = table["margin"] if margins.asked is MarginColumn.ALL else pc.fill_null(table["stated"], 0)
    position = table.column_names.index("margin")
    table = table.drop_columns(["margin", "stated"])
    return table.add_column(position, "margin", margin) if margins.written else table


def _check_destination(out: Path, fmt: ExportFormat, test_fraction: float | None) -> None:
    if test_fraction is not None and not 0 < test_fraction < 1:
        raise ExportError(f"--test-fraction must be between 0 and 1, got {test_fraction}")
    is_file = out.suffix in FILE_SUFFIXES
    if (out.suffix == ".csv") != (fmt is ExportFormat.CSV):
        raise ExportError(f"{out}: the csv format writes a .csv file, and only it does")
    if is_file and test_fraction is not None:
        raise ExportError(f"{out}: a train/test split is written to a folder (a DatasetDict); give a folder")
    try:
        refuse_open_project_file(out)  # e.g. PROJECT-journal: SQLite would take what we write for its own
    except StoreError as error:
        raise ExportError(str(error)) from None
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise ExportError(f"{out}: already exists; choose a new name")
    if not out.parent.is_dir():
        raise ExportError(f"{out}: the folder {out.parent} does not exist")


# -- rows ------------------------------------------------------------------------------------------


def _pair_tables(
    store: Store,
    fmt: ExportFormat,
    selection: PairSelection,
    annotators: Sequence[str] | None,
    rounds: Sequence[int] | None,
    test_fraction: float | None,
    seed: int,
) -> tuple[dict[str, pa.Table], int]:
    """The pairs as an arrow table per split: prompt_id, prompt, chosen, rejected, margin (the default
    filled in), stated (the stated margin, null where none was stated) (+ annotator for csv).

    Built as columns: each answer's and prompt's text is read once and placed by index (take), so a
    million pairs never become a million Python rows (10x faster, a third of the memory). The split is
    made on the ids, before any text is placed, so no table is copied to split it.
    """
    if selection is PairSelection.ALL:  # the stored pairs: no need to rebuild rankings
        columns = current_pair_columns(store, annotators, rounds)
    else:
        selected = [
            (prompt_id, pair.chosen, pair.rejected, pair.margin, pair.stated_margin, annotator)
            for prompt_id, annotator, ranking in current_rankings(store, annotators, rounds)
            for pair in select_pairs(ranking, selection)
        ]
        columns = pair_columns(selected)
    prompt_ids = np.asarray(columns["prompt_id"], dtype=np.int64)
    _refuse_nothing(len(prompt_ids), annotators, rounds)
    split_rows = _split_by_prompt(prompt_ids, test_fraction, seed)
    answer_ids, answer_bytes = all_answer_texts(store)
    texts = pa.array(answer_bytes, pa.binary()).cast(pa.string())
    answer_row = _row_of(answer_ids)
    prompts = all_prompt_contents(store)
    prompt_row = _row_of([prompt[0] for prompt in prompts])
    exported = np.unique(prompt_ids)
    chats = sum(prompts[prompt_row[p]][1] == "chat" for p in exported)
    if fmt is ExportFormat.TRL_CONVERSATIONAL:
        prompt_texts = pa.array([_messages(kind, content) for _, kind, content in prompts], MESSAGES)
    elif fmt is ExportFormat.TRL:  # text; a chat as the transcript Anthropic's HH data is written in
        prompt_texts = pa.array(
            [hh_transcript(json.loads(content)) if kind == "chat" else content for _, kind, content in prompts],
            pa.string(),
        )
    else:  # a chat in a csv cell is its JSON
        prompt_texts = pa.array([content for _, _, content in prompts], pa.string())
    chosen_ids = np.asarray(columns["chosen"], dtype=np.int64)
    rejected_ids = np.asarray(columns["rejected"], dtype=np.int64)
    margins = np.asarray(columns["margin"], dtype=np.int64)
    stated_margins = np.asarray(columns["stated_margin"], dtype=np.int64)
    tables = {}
    for name, rows in split_rows.items():
        chosen = texts.take(answer_row[chosen_ids[rows]])
        rejected = texts.take(answer_row[rejected_ids[rows]])
        if fmt is ExportFormat.TRL_CONVERSATIONAL:
            chosen, rejected = _assistant_turns(chosen), _assistant_turns(rejected)
        table = pa.table(
            {
                "prompt_id": pa.array(prompt_ids[rows]),
                "prompt": prompt_texts.take(prompt_row[prompt_ids[rows]]),
                "chosen": chosen,
                "rejected": rejected,
                "margin": pa.array(margins[rows]),
                "stated": pa.array(stated_margins[rows], mask=stated_margins[rows] == NOT_STATED),
            }
        )
        if fmt is ExportFormat.CSV:
            annotator = np.asarray(columns["annotator"], dtype=object)[rows]
            table = table.append_column("annotator", pa.array(annotator, pa.string()))
        tables[name] = table
    return tables, chats


def hh_transcript(chat: Sequence[dict[str, str]]) -> str:
    """A chat as a prompt in Anthropic HH's form, "\n\nHuman: …\n\nAssistant: …\n\nAssistant: ", ready for the
    answer to follow (TRL joins prompt and answer as they are; `labeler import` reads it back as the chat).
    A system message, which HH has no turn for, opens the text as "System: …"."""
    speaker = {"user": "Human", "assistant": "Assistant", "system": "System"}
    turns = "".join(f"\n\n{speaker.get(m['role'], m['role'].title())}: {m['content']}" for m in chat)
    return turns + "\n\nAssistant: "


def _refuse_nothing(rows: int, annotators: Sequence[str] | None, rounds: Sequence[int] | None) -> None:
    if rows == 0:
        who = f" by {', '.join(annotators)}" if annotators else ""
        which = f" in round {', '.join(map(str, rounds))}" if rounds else ""
        raise ExportError(f"nothing to export: the project has no current judgements{who}{which}")


MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def _row_of(ids: Sequence[int]) -> np.ndarray:
    """An array mapping an id to its position in `ids`, for numpy fancy indexing."""
    positions = np.full(max(ids, default=0) + 1, -1, dtype=np.int64)
    positions[np.asarray(ids, dtype=np.int64)] = np.arange(len(ids))
    return positions


def _messages(kind: str, content: str) -> list[dict[str, str]]:
    if kind == "text":
        return [{"role": "user", "content": content}]
    return [{"role": m["role"], "content": m["content"]} for m in json.loads(content)]


def _assistant_turns(texts: pa.Array) -> pa.Array:
    """Each text as a one-message conversation [{"role": "assistant", "content": text}]."""
    roles = pa.array(np.full(len(texts), "assistant", dtype=object), pa.string())
    messages = pa.StructArray.from_arrays([roles, texts], names=["role", "content"])
    return pa.ListArray.from_arrays(pa.array(np.arange(len(texts) + 1, dtype=np.int32)), messages)


def _ranking_row(judgement: CurrentJudgement, prompt: Prompt) -> dict[str, Any]:
    """One judgement as the importer's ranking row, plus everything else the annotator recorded.

    The answers it was shown (its round's task) are listed in the prompt's order; ranking and
    display_order are 0-based indices into that list, and flags[i] are the flags on answer i.
    """
    shown = set(judgement.display_order)
    answers = [answer for answer in prompt.answers if answer.id in shown]
    index = {answer.id: i for i, answer in enumerate(answers)}
    return {
        "uuid": judgement.uuid,
        "id": prompt.external_id or str(prompt.id),
        "prompt": prompt.content,
        "answers": [{"text": a.text, "model": a.model} for a in answers],
        "annotator": judgement.annotator,
        "outcome": judgement.outcome,
        "ranking": [[index[a] for a in tier] for tier in judgement.tiers] if judgement.tiers else None,
        "strengths": judgement.strengths,
        "stated_strengths": judgement.stated_strengths,
        "skip_reason": judgement.skip_reason,
        "display_order": [index[a] for a in judgement.display_order],
        "flags": [judgement.flags.get(str(a.id), []) for a in answers],
        "likert": judgement.likert,
        "comment": judgement.comment,
        "seconds_spent": judgement.seconds_spent,
        "guideline_version": judgement.guideline_version,
        "created_at": judgement.created_at,
        "round": judgement.round,
    }


def _split_by_prompt(prompt_ids: np.ndarray, test_fraction: float | None, seed: int) -> dict[str, np.ndarray]:
    """The rows of train (and test), as masks over `prompt_ids`: every row of a prompt lands in the
    same split. The same seed chooses the same test prompts."""
    if test_fraction is None:
        return {"train": np.ones(len(prompt_ids), dtype=bool)}
    chosen_from = np.unique(prompt_ids).tolist()  # sorted
    if len(chosen_from) < 2:
        raise ExportError("a train/test split needs judgements of at least two prompts")
    random.Random(seed).shuffle(chosen_from)
    test_count = min(max(1, round(test_fraction * len(chosen_from))), len(chosen_from) - 1)
    in_test = np.isin(prompt_ids, chosen_from[:test_count])
    return {"train": ~in_test, "test": in_test}


# -- writing ---------------------------------------------------------------------------------------


def _write(out: Path, tables: dict[str, pa.Table]) -> None:
    """Write under a temporary name beside `out`, then rename: a failed export leaves nothing."""
    temporary = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        target = temporary / out.name
        if out.suffix == ".jsonl":
            _write_jsonl(target, tables["train"])
        elif out.suffix == ".parquet":
            pq.write_table(tables["train"], target)
        elif out.suffix == ".csv":
            _write_csv(target, tables["train"])
        else:
            _write_dataset_dict(target, tables)
        if out.is_dir():
            out.rmdir()  # an empty folder given as OUT
        os.replace(target, out)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _write_jsonl(path: Path, table: pa.Table) -> None:
    with path.open("w", encoding="utf-8") as out:
        for batch in table.to_batches(max_chunksize=10_000):
            for row in batch.to_pylist():
                out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (the rankings format) as a table; one column cannot hold both text and chat prompts."""
    if len({type(row["prompt"]) for row in rows}) > 1:
        raise ExportError(
            "the project mixes text and chat prompts, which one table column cannot hold: "
            "use --format trl-conversational for pairs"
        )
    return pa.Table.from_pylist(rows)


def _write_dataset_dict(path: Path, tables: dict[str, pa.Table]) -> None:
    # Imported here: `datasets` takes seconds to import and only this output needs it.
    from datasets import Dataset, DatasetDict

    DatasetDict({name: Dataset(table) for name, table in tables.items()}).save_to_disk(str(path))


def _write_csv(path: Path, table: pa.Table) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=table.column_names)
        writer.writeheader()
        for batch in table.to_batches(max_chunksize=10_000):
            for row in batch.to_pylist():
                writer.writerow({key: spreadsheet_safe(value) for key, value in row.items()})
