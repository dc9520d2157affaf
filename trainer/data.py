"""The store -> training data door: a snapshot of the project, its current rankings, a split by prompt.

The trainer never reads the live project file while training: it takes a snapshot (VACUUM INTO) and
records the snapshot's sha256, so a trained model names the exact data it saw while annotators keep
working. Rankings are read through labeler.store (no SQL here). This module needs no torch, so
`labeler-train --help` and the GUI can import it cheaply.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from labeler.domain import Outcome, Ranking, ranking_to_pairs
from labeler.store import Store, StoreError, open_read_only, open_store
from labeler.store.bulk_reads import current_judgements
from labeler.store.snapshots import snapshot
from labeler.wording import counted
from trainer.errors import TrainerError


def snapshot_project(project: Path, folder: Path) -> tuple[Path, str]:
    """Copy the project consistently into `folder` (made if missing); return the copy and its sha256.

    Read the copy with labeler.store.open_read_only: open_store would switch it to WAL and change
    its bytes, so it would no longer match the recorded hash.
    """
    project, folder = Path(project), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open_store(project) as store:
        copy = snapshot(store, folder / f"{project.stem}-snapshot.db")
    return copy, sha256_of(copy)


def sha256_of(path: Path) -> str:
    with Path(path).open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


@dataclass(frozen=True)
class RankedPrompt:
    """One current ranking of one prompt's answers, as the reward model learns from it."""

    prompt_id: int
    prompt: str | list[dict]  # a text, or a chat as [{"role", "content"}, ...]
    # The answers this judgement placed, each once, in the store's (answer id) order, not in rank
    # order, so an answer's position says nothing about its rank.
    answers: list[str]
    tiers: list[list[int]]  # indices into `answers`, best tier first; answers in one tier are tied
    # stated_strengths[i] is between tiers[i] and tiers[i + 1]: as the annotator (or file) stated it, None
    # where none was stated (the store records the default, 2, there; no margin should come of it)
    stated_strengths: list[int | None]
    annotator: str
    # The answers (indices into `answers`) in the order the annotator saw them in the app; None for a
    # judgement imported from a file, whose order is the file's, not something a person was shown.
    shown_order: list[int] | None = None


def ranked_prompts(
    store: Store, annotators: Sequence[str] | None = None, rounds: Sequence[int] | None = None
) -> list[RankedPrompt]:
    """One RankedPrompt per current ranked judgement (of `annotators` and `rounds` only, if given), oldest
    first. A prompt judged in two rounds gives two RankedPrompts (each of its own answers).

    Superseded and retracted judgements, "all bad" and "skipped" imply no preference and are left
    out, and so is a ranking that ties every answer (one tier): it implies no pair either.
    """
    judgements = [
        j
        for j in current_judgements(store, annotators, rounds)
        if j.outcome == Outcome.RANKED and j.tiers is not None and len(j.tiers) > 1
    ]
    prompts = store.prompts([j.prompt_id for j in judgements])
    items = []
    for judgement in judgements:
        placed = {answer_id for tier in judgement.tiers for answer_id in tier}
        shown = [answer for answer in prompts[judgement.prompt_id].answers if answer.id in placed]
        index_of = {answer.id: index for index, answer in enumerate(shown)}
        items.append(
            RankedPrompt(
                prompt_id=judgement.prompt_id,
                prompt=prompts[judgement.prompt_id].content,
                answers=[answer.text for answer in shown],
                tiers=[[index_of[answer_id] for answer_id in tier] for tier in judgement.tiers],
                stated_strengths=list(judgement.stated_strengths or []),
                annotator=judgement.annotator,
                # Only the app times a judgement: an imported one has no time, and no real display order.
                shown_order=[index_of[answer_id] for answer_id in judgement.display_order if answer_id in index_of]
                if judgement.seconds_spent is not None
                else None,
            )
        )
    return items


class _OfAPrompt(Protocol):
    # Anything with a prompt id splits: RankedPrompts, or rows a caller made from them.
    @property
    def prompt_id(self) -> int: ...


Item = TypeVar("Item", bound=_OfAPrompt)


def split_by_prompt(items: Sequence[Item], eval_fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    """(train, eval): every item of a prompt lands on the same side, so eval measures unseen prompts.

    Items keep their order within each side. The prompt ids are sorted, shuffled with `seed`, and the
    first round(eval_fraction * prompts) held out -- at least one, and never all, when eval_fraction > 0.
    That is `labeler export --test-fraction F --seed N`'s rule, so the same prompts, fraction and seed
    hold out the same prompts there and here.
    """
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"the eval fraction must be at least 0 and below 1, got {eval_fraction}")
    if not items:
        raise ValueError("nothing to split: there are no ranked judgements")
    if eval_fraction == 0:
        return list(items), []
    prompt_ids = sorted({item.prompt_id for item in items})
    if len(prompt_ids) == 1:
        raise ValueError("all judgements are of one prompt: nothing to hold out")
    random.Random(seed).shuffle(prompt_ids)
    count = min(max(1, round(eval_fraction * len(prompt_ids))), len(prompt_ids) - 1)
    held_out = set(prompt_ids[:count])
    return [i for i in items if i.prompt_id not in held_out], [i for i in items if i.prompt_id in held_out]


def split_into_folds(items: Sequence[Item], folds: int, fold: int, seed: int) -> tuple[list[Item], list[Item]]:
    """(train, eval) for fold `fold` (1..folds) of a k-fold cross-validation by prompt: the sorted prompt
    ids are shuffled with `seed` (as split_by_prompt does) and cut into `folds` runs of nearly equal size;
    run `fold` is held out. Over fold = 1..folds every prompt is held out exactly once."""
    if folds < 2 or not 1 <= fold <= folds:
        raise ValueError(f"fold {fold} of {folds}: use at least 2 folds, numbered from 1")
    if not items:
        raise ValueError("nothing to split: there are no ranked judgements")
    prompt_ids = sorted({item.prompt_id for item in items})
    if len(prompt_ids) < folds:
        raise ValueError(f"{len(prompt_ids)} prompts cannot be cut into {folds} folds")
    random.Random(seed).shuffle(prompt_ids)
    count = len(prompt_ids)
    held_out = set(prompt_ids[(fold - 1) * count // folds : fold * count // folds])
    return [i for i in items if i.prompt_id not in held_out], [i for i in items if i.prompt_id in held_out]


def pairs_of(item: RankedPrompt) -> list[tuple[int, int, int | None]]:
    """(chosen, rejected, stated margin) for every two answers in different tiers; the stated margin sums
    the stated strengths between them, and is None where none of them was stated."""
    pairs = ranking_to_pairs(Ranking.of(item.tiers, item.stated_strengths))
    return [(pair.chosen, pair.rejected, pair.stated_margin) for pair in pairs]


MAX_ERRORS_SHOWN = 20
_PROMPT_ONLY_KEYS = {"id", "prompt", "metadata"}  # a prompts file may hold rows without answers
Taken = TypeVar("Taken")


def take_from_rows(path: Path, take: Callable[[Any, str], list[Taken]], refused: str) -> list[Taken]:
    """What `take(row, file format)` gives for each row of a file `labeler import` reads, in order,
    read with the importer's own readers. `take` raises RowError for a row it cannot use. Any bad row
    stops with a TrainerError: `PATH: N bad rows, {refused}` and FILE:LINE: reason for the first few."""
    from labeler.formats.reading import detect_format, read_rows
    from labeler.formats.row_items import RowError
    from labeler.formats.source_rows import BadRow, FileFormatError

    try:
        fmt = detect_format(path)
        rows = list(read_rows(path, fmt))
    except (FileFormatError, OSError) as error:
        raise TrainerError(str(error)) from None
    taken, problems = [], []
    for row in rows:
        if isinstance(row, BadRow):
            problems.append(f"{row.file}:{row.line}: {row.reason}")
            continue
        try:
            taken += take(row.data, fmt)
        except RowError as error:
            problems.append(f"{row.file}:{row.line}: {error}")
    if problems:
        shown = "\n".join(problems[:MAX_ERRORS_SHOWN])
        more = f"\n... and {len(problems) - MAX_ERRORS_SHOWN} more" if len(problems) > MAX_ERRORS_SHOWN else ""
        raise TrainerError(f"{path}: {counted(len(problems), 'bad row')}, {refused}:\n{shown}{more}")
    return taken


def as_prompt(prompt: str | Sequence[Mapping[str, str]]) -> str | list[dict]:
    """A parsed prompt as plain JSON values: its text, or its messages as dicts."""
    return prompt if isinstance(prompt, str) else [dict(message) for message in prompt]


def read_prompts_file(path: Path) -> list[str | list[dict]]:
    """The prompt of every row, in order: rows of a prompt alone, prompts with answers, rankings or pairs,
    in any format `labeler import` reads. Any bad row stops with a TrainerError listing FILE:LINE: reason."""
    from labeler.formats.prompt_fields import parse_prompt
    from labeler.formats.row_items import ImportedRanking
    from labeler.formats.rows import parse_row

    def prompt_of(data: Any, fmt: str) -> list[str | list[dict]]:
        if isinstance(data, dict) and set(data) <= _PROMPT_ONLY_KEYS:
            return [as_prompt(parse_prompt(data.get("prompt")))]
        item = parse_row(data, fmt)
        return [as_prompt(item.prompt.prompt if isinstance(item, ImportedRanking) else item.prompt)]

    prompts = take_from_rows(path, prompt_of, "the file was not used")
    if not prompts:
        raise TrainerError(f"{path}: no prompts in the file")
    return prompts


SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database, so of every project file


def read_prompts(path: Path) -> list[str | list[dict]]:
    """The distinct prompts, in order, of a project file (read through a snapshot, so annotators can go on) or
    of a prompts file in any format `labeler import` reads; a TrainerError if there are none."""
    path = Path(path)
    if not path.is_file():
        raise TrainerError(f"{path}: no such file")
    with path.open("rb") as file:
        is_project = file.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    prompts = project_prompts(path) if is_project else read_prompts_file(path)
    distinct = list({json.dumps(prompt, sort_keys=True): prompt for prompt in prompts}.values())
    if not distinct:
        raise TrainerError(f"{path}: the project has no prompts")
    return distinct


def project_prompts(project: Path) -> list[str | list[dict]]:
    """Every prompt of a project, in id order, read through a snapshot (annotators can go on meanwhile)."""
    try:
        with tempfile.TemporaryDirectory() as folder:
            copy, _ = snapshot_project(project, Path(folder))
            with open_read_only(copy) as store:
                ids = store.prompt_ids()
                found = store.prompts(ids)
            return [found[prompt_id].content for prompt_id in ids]
    except StoreError as error:
        raise TrainerError(str(error)) from None
