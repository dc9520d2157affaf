"""Bulk reads for exports, statistics and the trainer: the current judgements, their pairs, the answers.

"Current" means neither superseded by a later judgement nor a retraction (the current_* views).
Which strengths were stated is read through domain.recorded_stated_strengths, which decides it for
the judgements recorded before the store kept it (migration m004).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from labeler.domain import Outcome, Ranking, ranking_to_pairs, recorded_stated_strengths
from labeler.store.judgement_rows import decode_columns, decode_ranking
from labeler.store.project import Store

NOT_STATED = -1  # in a column of stated margins: no strength between the pair's tiers was stated


@dataclass(frozen=True)
class CurrentJudgement:
    id: int
    uuid: str
    annotator: str
    prompt_id: int
    outcome: str  # ranked, all_bad or skipped
    tiers: list[list[int]] | None  # answer ids, best tier first
    strengths: list[int] | None  # the default (2) filled in where none was stated
    stated_strengths: list[int | None] | None  # None where a step's strength was not stated
    skip_reason: str | None
    display_order: list[int]
    seconds_spent: float | None
    flags: dict[str, list[str]]  # answer id (as text) -> flags
    likert: int | None
    comment: str
    guideline_version: int | None
    created_at: str
    round: int  # the round of the task it judged (labeler.store.rounds)


# Lists are passed as one JSON parameter and unpacked with json_each, so no SQL text is built.


def _selection_params(annotators: Sequence[str] | None, rounds: Sequence[int] | None) -> dict[str, str | None]:
    return {
        "annotators": json.dumps(list(annotators)) if annotators else None,
        "rounds": json.dumps(list(rounds)) if rounds else None,
    }


# The judgements of the annotators and rounds asked for (all of them when not asked), j and a joined.
SELECTED = (
    "(:annotators IS NULL OR a.name IN (SELECT value FROM json_each(:annotators))) "
    "AND (:rounds IS NULL OR j.round IN (SELECT value FROM json_each(:rounds)))"
)


def current_judgements(
    store: Store, annotators: Sequence[str] | None = None, rounds: Sequence[int] | None = None
) -> list[CurrentJudgement]:
    """Every current judgement (optionally of some annotators or rounds only), oldest first."""
    rows = store.conn.execute(
        "SELECT j.id, j.uuid, a.name AS annotator, j.prompt_id, j.outcome, j.tiers, j.strengths, "  # noqa: S608
        "j.stated_strengths, j.skip_reason, j.display_order, j.seconds_spent, j.flags, j.likert, j.comment, "
        "j.guideline_version, j.created_at, j.round FROM current_judgements j "
        f"JOIN annotators a ON a.id = j.annotator_id WHERE {SELECTED} ORDER BY j.id",
        _selection_params(annotators, rounds),
    )
    names = [column[0] for column in rows.description]
    judgements = []
    for row in rows:
        record = decode_columns(dict(zip(names, row, strict=True)))
        if record["strengths"] is not None:
            stated = recorded_stated_strengths(record["strengths"], record["stated_strengths"])
            record["stated_strengths"] = list(stated)
        judgements.append(CurrentJudgement(**record))
    return judgements


def current_rankings(
    store: Store, annotators: Sequence[str] | None = None, rounds: Sequence[int] | None = None
) -> list[tuple[int, str, Ranking]]:
    """(prompt id, annotator, ranking) of every current ranked judgement (of `annotators` and `rounds`
    only, if given), oldest first: the lean read that choosing pairs needs (current_judgements decodes
    every column, 4.9 s for 166,667 judgements)."""
    rows = store.conn.execute(
        "SELECT j.prompt_id, a.name, j.tiers, j.strengths, j.stated_strengths FROM current_judgements j "  # noqa: S608
        f"JOIN annotators a ON a.id = j.annotator_id WHERE j.tiers IS NOT NULL AND {SELECTED} "
        "ORDER BY j.id",
        _selection_params(annotators, rounds),
    )
    return [(prompt, name, decode_ranking(tiers, strengths, stated)) for prompt, name, tiers, strengths, stated in rows]


def current_pair_columns(
    store: Store, annotators: Sequence[str] | None = None, rounds: Sequence[int] | None = None
) -> dict[str, np.ndarray]:
    """The pairs of the current judgements (of `annotators` and `rounds` only, if given), oldest first, as columns
    (prompt_id, chosen, rejected, margin, stated_margin: int64 arrays, NOT_STATED in stated_margin where
    none was stated; annotator: an array of names).

    "Current" is computed as all pairs minus those of superseded judgements (few; a retraction
    has no pairs), which reads a million pairs in half the time of joining the current_* view.
    SQLite hands each column over as one JSON array: a million pairs in 1.8 s, where a million row
    tuples, turned into columns in Python, took 2.9 s (BENCHMARKS.md).
    """
    columns = store.conn.execute(
        "SELECT json_group_array(prompt_id), json_group_array(chosen_answer_id), "
        "json_group_array(rejected_answer_id), json_group_array(margin), "
        "json_group_array(COALESCE(stated_margin, ?)), json_group_array(judgement_id) "
        "FROM (SELECT * FROM pairs p WHERE p.judgement_id NOT IN (SELECT earlier.id FROM judgements later "
        "  JOIN judgements earlier ON earlier.uuid = later.supersedes WHERE later.supersedes IS NOT NULL) "
        "ORDER BY p.id)",
        [NOT_STATED],
    ).fetchone()
    prompt_id, chosen, rejected, margin, stated_margin, judgement = (
        np.array(orjson.loads(column), np.int64) for column in columns
    )
    _decide_stated_margins_recorded_before_m004(store, judgement, chosen, rejected, stated_margin)
    judges = store.conn.execute(
        "SELECT j.id, a.name, j.round FROM judgements j JOIN annotators a ON a.id = j.annotator_id"
    ).fetchall()
    names = np.empty(max((row[0] for row in judges), default=0) + 1, dtype=object)  # judgement id -> annotator
    round_of = np.zeros(len(names), dtype=np.int64)  # judgement id -> round
    for judgement_id, name, round_number in judges:
        names[judgement_id], round_of[judgement_id] = name, round_number
    annotator = names[judgement]
    keep = np.ones(len(judgement), dtype=bool)
    if annotators:
        keep &= np.isin(annotator, list(annotators))
    if rounds:
        keep &= np.isin(round_of[judgement], list(rounds))
    return {
        "prompt_id": prompt_id[keep],
        "chosen": chosen[keep],
        "rejected": rejected[keep],
        "margin": margin[keep],
        "stated_margin": stated_margin[keep],
        "annotator": annotator[keep],
    }


def _decide_stated_margins_recorded_before_m004(
    store: Store, judgement: np.ndarray, chosen: np.ndarray, rejected: np.ndarray, stated_margin: np.ndarray
) -> None:
    """Fill in `stated_margin` for the pairs of the rankings recorded before the store kept which
    strengths were stated: their pairs have no stated margin stored, and what their rankings stated is
    decided by domain.recorded_stated_strengths. A pair's margin alone cannot tell (4 may be 2 + 2 or
    1 + 3), so the pairs of a ranking that stated anything are worked out again from it; the pairs of
    one that stated nothing (the commonest: every strength the default) stay NOT_STATED. A project
    recorded since then has none of these, and pays one scan of its judgements."""
    recorded_before = {}
    for judgement_id, tiers, strengths in store.conn.execute(
        "SELECT id, tiers, strengths FROM judgements WHERE tiers IS NOT NULL AND stated_strengths IS NULL"
    ):
        if any(stated is not None for stated in recorded_stated_strengths(orjson.loads(strengths), None)):
            recorded_before[judgement_id] = decode_ranking(tiers, strengths, None)
    if not recorded_before:
        return
    decided = {
        (judgement_id, pair.chosen, pair.rejected): pair.stated_margin
        for judgement_id, ranking in recorded_before.items()
        for pair in ranking_to_pairs(ranking)
    }
    for row in np.flatnonzero(np.isin(judgement, list(recorded_before))):
        found = decided[(int(judgement[row]), int(chosen[row]), int(rejected[row]))]
        stated_margin[row] = NOT_STATED if found is None else found


PAIR_COLUMNS = ("prompt_id", "chosen", "rejected", "margin", "stated_margin", "annotator")


def pair_columns(rows: Sequence[tuple[int, int, int, int, int | None, str]]) -> dict[str, list]:
    """(prompt_id, chosen, rejected, margin, stated margin or None, annotator) rows as six lists, a
    stated margin of None as NOT_STATED."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(PAIR_COLUMNS)
    lists = {name: list(column) for name, column in zip(PAIR_COLUMNS, columns, strict=True)}
    lists["stated_margin"] = [NOT_STATED if stated is None else stated for stated in lists["stated_margin"]]
    return lists


def all_answer_texts(store: Store) -> tuple[list[int], list[bytes]]:
    """Every answer's id and text, the text as UTF-8 bytes (a bulk reader turns bytes into text
    far faster than it copies Python strings)."""
    rows = store.conn.execute("SELECT id, CAST(text AS BLOB) FROM answers ORDER BY id").fetchall()
    return [row[0] for row in rows], [row[1] for row in rows]


def all_prompt_contents(store: Store) -> list[tuple[int, str, str]]:
    """Every prompt's (id, kind, content): content is the text, or the chat as JSON."""
    return store.conn.execute("SELECT id, kind, content FROM prompts ORDER BY id").fetchall()


def current_outcomes(store: Store) -> list[tuple[str, int, str, str | None, float | None, int]]:
    """(annotator, prompt id, outcome, tiers as JSON, seconds spent, round) of every current judgement,
    oldest first: the lean read the statistics need (current_judgements decodes four JSON columns
    per row, seconds on a big project). Current = not superseded, and not a retraction."""
    return store.conn.execute(
        "SELECT a.name, j.prompt_id, j.outcome, j.tiers, j.seconds_spent, j.round FROM judgements j "
        "JOIN annotators a ON a.id = j.annotator_id WHERE j.outcome != ? "
        "AND j.id NOT IN (SELECT earlier.id FROM judgements later "
        "  JOIN judgements earlier ON earlier.uuid = later.supersedes WHERE later.supersedes IS NOT NULL) "
        "ORDER BY j.id",
        [Outcome.RETRACTED],
    ).fetchall()


def all_demonstrations(store: Store, annotators: Sequence[str] | None = None) -> list[tuple[int, str, str]]:
    """(prompt id, text, annotator) of every answer a person wrote or rewrote (of `annotators` only, if
    given), oldest first: the supervised fine-tuning data."""
    return store.conn.execute(
        "SELECT d.prompt_id, d.text, a.name FROM demonstrations d JOIN annotators a ON a.id = d.annotator_id "
        "WHERE :annotators IS NULL OR a.name IN (SELECT value FROM json_each(:annotators)) ORDER BY d.id",
        _selection_params(annotators, None),
    ).fetchall()
