"""The judgements and pairs tables: how a judgement becomes its row and pairs, and how a row reads back.

Every writer (recording in the app, a bulk import, a merge) and every reader goes through here, so the
JSON columns have one encoding:
  tiers             [[answer id, ...], ...], best tier first (NULL unless ranked)
  strengths         [int, ...] between adjacent tiers, the default filled in where none was stated
  stated_strengths  [int | null, ...]: null where no strength was stated (the column is NULL for a ranking
                    recorded before migration m004; domain.recorded_stated_strengths decides those)
  display_order     [answer id, ...] as the annotator saw them
  flags             {"answer id": ["flag", ...]}, answers without flags left out
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from labeler import domain
from labeler.store.records import RecordedJudgement, utc_now

JSON_COLUMNS = ("tiers", "strengths", "stated_strengths", "display_order", "flags")
INSERT_PAIRS = (
    "INSERT INTO pairs (judgement_id, prompt_id, chosen_answer_id, rejected_answer_id, margin, stated_margin) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


# -- encoding ----------------------------------------------------------------------------------------


def ids_column(ids: Iterable[int]) -> str:
    """display_order: answer ids as a JSON list."""
    return json.dumps(list(ids))


def ranking_columns(ranking: domain.Ranking | None) -> dict[str, str | None]:
    """The tiers, strengths and stated_strengths columns of a ranking (all NULL without one)."""
    if ranking is None:
        return {"tiers": None, "strengths": None, "stated_strengths": None}
    return {
        "tiers": json.dumps([list(tier) for tier in ranking.tiers]),
        "strengths": json.dumps(list(ranking.strengths)),
        "stated_strengths": json.dumps(list(ranking.stated_strengths)),
    }


def flags_column(flags: Mapping[int, Iterable[str]]) -> str:
    """The flags column: answer id (as text) -> its sorted flags, answers without flags left out."""
    return json.dumps({str(answer): sorted(map(str, found)) for answer, found in sorted(flags.items()) if found})


def judgement_columns(judgement: domain.Judgement, display_order: Sequence[int]) -> dict[str, Any]:
    """Every column a judgement decides (the store adds who, when and what it supersedes)."""
    return {
        "outcome": judgement.outcome.value,
        **ranking_columns(judgement.ranking),
        "skip_reason": judgement.skip_reason,
        "display_order": ids_column(display_order),
        "flags": flags_column(judgement.flags),
        "likert": judgement.likert,
        "comment": judgement.comment,
    }


def with_answer_ids(row: Mapping[str, Any], answer_id: Callable[[int], int]) -> dict[str, Any]:
    """A stored row with every answer id in its JSON columns mapped through `answer_id` (a merge)."""
    decoded = decode_columns(row)
    translated = dict(row)
    translated["display_order"] = ids_column(map(answer_id, decoded["display_order"]))
    if decoded["tiers"] is not None:
        translated["tiers"] = json.dumps([[answer_id(a) for a in tier] for tier in decoded["tiers"]])
    translated["flags"] = flags_column({answer_id(int(a)): found for a, found in decoded["flags"].items()})
    return translated


# -- decoding ----------------------------------------------------------------------------------------


def decode_columns(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row (column -> value) with its JSON columns decoded; NULL stays None."""
    decoded = dict(row)
    for column in JSON_COLUMNS:
        if decoded.get(column) is not None:
            decoded[column] = orjson.loads(decoded[column])
    return decoded


def decode_ids(column: str | bytes) -> list[int]:
    """display_order (or any list of answer ids) from its column."""
    return orjson.loads(column)


def decode_tiers(column: str | bytes) -> tuple[tuple[int, ...], ...]:
    return tuple(map(tuple, orjson.loads(column)))


def decode_ranking(tiers: str, strengths: str, stated_strengths: str | None) -> domain.Ranking:
    """A ranking from its three columns (stated_strengths NULL if recorded before m004)."""
    stated = orjson.loads(stated_strengths) if stated_strengths is not None else None
    return domain.Ranking(decode_tiers(tiers), domain.recorded_stated_strengths(orjson.loads(strengths), stated))


# -- writing, inside a write transaction -------------------------------------------------------------


def next_seq(conn: sqlite3.Connection, annotator_id: int) -> int:
    """The annotator's next sequence number (safe inside a write transaction: no one else writes)."""
    return conn.execute(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM judgements WHERE annotator_id = ?", [annotator_id]
    ).fetchone()[0]


def insert_judgement(
    conn: sqlite3.Connection,
    *,
    annotator_id: int,
    judgement_uuid: str | None = None,
    created_at: str | None = None,
    seq: int | None = None,
    **columns: Any,
) -> RecordedJudgement:
    """Append one judgement row (its pairs are insert_pairs'); `columns` are the table's own names. A new
    uuid, the annotator's next seq and the time now unless given (a merge keeps the pack's)."""
    values = {
        "uuid": judgement_uuid or str(uuid.uuid4()),
        "annotator_id": annotator_id,
        "seq": seq if seq is not None else next_seq(conn, annotator_id),
        "created_at": created_at or utc_now(),
        **columns,
    }
    names = ", ".join(values)
    placeholders = ", ".join("?" for _ in values)
    # Column names come from this package's keyword arguments, never from input; values are bound.
    cursor = conn.execute(
        f"INSERT INTO judgements ({names}) VALUES ({placeholders})",  # noqa: S608
        list(values.values()),
    )
    return RecordedJudgement(cursor.lastrowid, values["uuid"], values["seq"], values["created_at"], 0)


def pair_rows(judgement_id: int, prompt_id: int, pairs: Iterable[domain.Pair]) -> Iterator[tuple]:
    """The pairs table's rows for a judgement's pairs, in INSERT_PAIRS' order."""
    return ((judgement_id, prompt_id, p.chosen, p.rejected, p.margin, p.stated_margin) for p in pairs)


def insert_pairs(conn: sqlite3.Connection, rows: Iterable[tuple]) -> None:
    """Write pair rows (pair_rows of one or many judgements) in the caller's transaction."""
    conn.executemany(INSERT_PAIRS, rows)
