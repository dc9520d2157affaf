"""Merging other annotators' project files ("packs") into a project, by judgement uuid.

Prompts are matched by content, answers by (prompt, text), annotators by name, judgements and
demonstrations by uuid; everything else in a pack is local to its machine (drafts, assignments,
settings) and stays behind. All packs of one merge go in one transaction. Merging the same pack
again adds nothing, and packs merged in either order give the same contents.

A pack judgement whose uuid the project already has with different contents is a conflict: it is
reported and the project's version is kept. So is an annotator who judged the same answers of a
prompt twice without the second correcting the first (both are kept).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labeler.domain import Pair
from labeler.store.errors import StoreError
from labeler.store.hardening import limit_value_size
from labeler.store.judgement_rows import (
    decode_columns,
    decode_ids,
    insert_judgement,
    insert_pairs,
    pair_rows,
    with_answer_ids,
)
from labeler.store.opening import open_read_only
from labeler.store.project import Store, ensure_annotator

# No value in a pack may be bigger: a pack is someone else's file, and a crafted 1 GB cell would be
# read whole into memory. No text labeler imports comes near it (at most 1,000,000 characters,
# 4 MB in UTF-8; a chat of a few such turns).
PACK_MAX_VALUE_BYTES = 64 * 1024 * 1024


@dataclass
class MergeReport:
    packs: list[str] = field(default_factory=list)
    prompts_added: int = 0
    answers_added: int = 0
    judgements_added: int = 0
    judgements_already_there: int = 0
    demonstrations_added: int = 0
    guidelines_added: int = 0
    conflicts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Pack:
    """A pack read into memory, its ids translated to content keys."""

    name: str
    prompts: list[tuple]  # (content_hash, external_id, kind, content, metadata, created_at)
    answers: list[tuple]  # (prompt content_hash, text_hash, text, model, generation, source, created_at, round)
    answer_keys: dict[int, tuple[str, str]]  # pack answer id -> (prompt content_hash, text_hash)
    prompt_keys: dict[int, str]  # pack prompt id -> content_hash
    judgements: list[dict[str, Any]]
    # pack judgement id -> (chosen, rejected, margin, stated margin: NULL in a pack's pairs recorded
    # before migration m004, and kept NULL: see domain.recorded_stated_strengths)
    pairs: dict[int, list[tuple[int, int, int, int | None]]]
    demonstrations: list[dict[str, Any]]
    guidelines: list[tuple[int, str, str]]


def merge_packs(store: Store, pack_paths: Sequence[Path]) -> MergeReport:
    """Bring every pack's prompts, answers and judgements into `store`, in one transaction.

    Each pack is opened read-only (it is never changed); a pack that is not a project, is
    damaged or is newer than this version stops the merge before anything is written.
    """
    packs = [_read_pack(Path(path)) for path in pack_paths]
    report = MergeReport(packs=[pack.name for pack in packs])
    store.write(lambda conn: _merge(conn, packs, report))
    return report


def _read_pack(path: Path) -> _Pack:
    with open_read_only(path) as pack, _read_errors_name(path):
        conn = pack.conn
        limit_value_size(conn, PACK_MAX_VALUE_BYTES)
        prompt_keys = dict(conn.execute("SELECT id, content_hash FROM prompts"))
        prompts = conn.execute(
            "SELECT content_hash, external_id, kind, content, metadata, created_at FROM prompts ORDER BY id"
        ).fetchall()
        answer_rows = conn.execute(
            "SELECT id, prompt_id, text_hash, text, model, generation, source, created_at, round FROM answers "
            "ORDER BY id"
        ).fetchall()
        answer_keys = {row[0]: (prompt_keys[row[1]], row[2]) for row in answer_rows}
        answers = [(prompt_keys[row[1]], *row[2:]) for row in answer_rows]
        judgements = _rows_as_dicts(
            conn,
            "SELECT j.*, a.name AS annotator FROM judgements j JOIN annotators a ON a.id = j.annotator_id "
            "ORDER BY j.id",
        )
        pairs: dict[int, list[tuple[int, int, int, int | None]]] = {}
        for judgement_id, chosen, rejected, margin, stated_margin in conn.execute(
            "SELECT judgement_id, chosen_answer_id, rejected_answer_id, margin, stated_margin FROM pairs ORDER BY id"
        ):
            pairs.setdefault(judgement_id, []).append((chosen, rejected, margin, stated_margin))
        demonstrations = _rows_as_dicts(
            conn,
            "SELECT d.*, a.name AS annotator FROM demonstrations d JOIN annotators a ON a.id = d.annotator_id "
            "ORDER BY d.id",
        )
        guidelines = conn.execute("SELECT version, text, created_at FROM guidelines ORDER BY version").fetchall()
    return _Pack(str(path), prompts, answers, answer_keys, prompt_keys, judgements, pairs, demonstrations, guidelines)


@contextmanager
def _read_errors_name(path: Path) -> Iterator[None]:
    """What goes wrong reading a pack's rows (a value too big, a page the quick check did not
    reach) is said in one line naming the pack; nothing has been written yet."""
    try:
        yield
    except sqlite3.DataError as error:
        if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_TOOBIG:
            raise StoreError(
                f"{path}: holds a value bigger than {PACK_MAX_VALUE_BYTES // 2**20} MB, which labeler never "
                "writes: not merged"
            ) from None
        raise StoreError(f"{path}: cannot be read as a pack: {error}") from None
    except sqlite3.DatabaseError as error:
        raise StoreError(f"{path}: cannot be read as a pack: {error}") from None


def _rows_as_dicts(conn: sqlite3.Connection, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(query, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _merge(conn: sqlite3.Connection, packs: Sequence[_Pack], report: MergeReport) -> None:
    before = _counts(conn)
    for pack in packs:
        _merge_pack(conn, pack, report)
    after = _counts(conn)
    report.prompts_added, report.answers_added = after[0] - before[0], after[1] - before[1]
    report.judgements_added, report.demonstrations_added = after[2] - before[2], after[3] - before[3]
    report.conflicts.extend(_double_judgements(conn, before[4]))


def _counts(conn: sqlite3.Connection) -> tuple[int, int, int, int, int]:
    return conn.execute(
        "SELECT (SELECT COUNT(*) FROM prompts), (SELECT COUNT(*) FROM answers), "
        "(SELECT COUNT(*) FROM judgements), (SELECT COUNT(*) FROM demonstrations), "
        "(SELECT COALESCE(MAX(id), 0) FROM judgements)"
    ).fetchone()


def _merge_pack(conn: sqlite3.Connection, pack: _Pack, report: MergeReport) -> None:
    prompt_ids = _merge_prompts(conn, pack, report)
    answer_ids = _merge_answers(conn, pack, prompt_ids)

    def answer_id(pack_answer_id: int) -> int:
        return answer_ids[pack.answer_keys[pack_answer_id]]

    _merge_guidelines(conn, pack, report)
    for row in pack.judgements:
        translated = _translated_judgement(row, prompt_ids[pack.prompt_keys[row["prompt_id"]]], answer_id)
        existing = _rows_as_dicts(
            conn,
            "SELECT j.*, a.name AS annotator FROM judgements j JOIN annotators a ON a.id = j.annotator_id "
            "WHERE j.uuid = ?",
            [row["uuid"]],
        )
        if existing:
            if _comparable(existing[0]) == _comparable(translated):
                report.judgements_already_there += 1
            else:
                report.conflicts.append(
                    f"judgement {row['uuid']}: {pack.name} has different contents for it; kept the project's"
                )
            continue
        columns = {key: value for key, value in translated.items() if key not in ("id", "annotator", "annotator_id")}
        # Column names are the judgements table's own (read from the pack's schema, which must match ours:
        # the pack passed the same schema check); values are bound.
        recorded = insert_judgement(
            conn,
            annotator_id=ensure_annotator(conn, translated["annotator"]),
            judgement_uuid=columns.pop("uuid"),
            created_at=columns.pop("created_at"),
            seq=columns.pop("seq"),
            **columns,
        )
        pairs = [
            Pair(answer_id(chosen), answer_id(rejected), margin, stated_margin)
            for chosen, rejected, margin, stated_margin in pack.pairs.get(row["id"], [])
        ]
        insert_pairs(conn, pair_rows(recorded.id, columns["prompt_id"], pairs))
    for row in pack.demonstrations:
        based_on = row["based_on_answer_id"]
        conn.execute(
            "INSERT INTO demonstrations (uuid, prompt_id, annotator_id, text, based_on_answer_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (uuid) DO NOTHING",
            [
                row["uuid"],
                prompt_ids[pack.prompt_keys[row["prompt_id"]]],
                ensure_annotator(conn, row["annotator"]),
                row["text"],
                answer_id(based_on) if based_on is not None else None,
                row["created_at"],
            ],
        )


def _merge_prompts(conn: sqlite3.Connection, pack: _Pack, report: MergeReport) -> dict[str, int]:
    """Add the pack's new prompts; content hash -> the project's prompt id for every pack prompt."""
    for digest, external_id, kind, content, metadata, created_at in pack.prompts:
        if external_id is not None:
            owner = conn.execute("SELECT content_hash FROM prompts WHERE external_id = ?", [external_id]).fetchone()
            if owner is not None and owner[0] != digest:
                report.conflicts.append(
                    f"prompt id {external_id!r}: {pack.name} uses it for a different prompt; "
                    "merged that prompt without the id"
                )
                external_id = None
        conn.execute(
            "INSERT INTO prompts (external_id, kind, content, content_hash, metadata, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (content_hash) DO NOTHING",
            [external_id, kind, content, digest, metadata, created_at],
        )
    return dict(
        conn.execute(
            "SELECT content_hash, id FROM prompts WHERE content_hash IN (SELECT value FROM json_each(?))",
            [json.dumps([row[0] for row in pack.prompts])],
        ).fetchall()
    )


def _merge_answers(conn: sqlite3.Connection, pack: _Pack, prompt_ids: dict[str, int]) -> dict[tuple[str, str], int]:
    """Add the pack's new answers, each in the round it has in the pack; (prompt hash, text hash) -> the
    project's answer id."""
    conn.executemany(
        "INSERT INTO answers (prompt_id, text_hash, text, model, generation, source, created_at, round) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (prompt_id, text_hash) DO NOTHING",
        [(prompt_ids[prompt_hash], *rest) for prompt_hash, *rest in pack.answers],
    )
    by_id = {prompt_id: digest for digest, prompt_id in prompt_ids.items()}
    rows = conn.execute(
        "SELECT prompt_id, text_hash, id FROM answers WHERE prompt_id IN (SELECT value FROM json_each(?))",
        [json.dumps(list(prompt_ids.values()))],
    )
    return {(by_id[prompt_id], digest): answer_id for prompt_id, digest, answer_id in rows}


def _merge_guidelines(conn: sqlite3.Connection, pack: _Pack, report: MergeReport) -> None:
    for version, text, created_at in pack.guidelines:
        found = conn.execute("SELECT text FROM guidelines WHERE version = ?", [version]).fetchone()
        if found is None:
            conn.execute(
                "INSERT INTO guidelines (version, text, created_at) VALUES (?, ?, ?)",
                [version, text, created_at],
            )
            report.guidelines_added += 1
        elif found[0] != text:
            report.conflicts.append(
                f"guidelines version {version}: {pack.name} has a different text; kept the project's"
            )


def _translated_judgement(row: dict[str, Any], prompt_id: int, answer_id) -> dict[str, Any]:
    """The pack's judgement row with its prompt and answer ids turned into the project's."""
    return {**with_answer_ids(row, answer_id), "prompt_id": prompt_id}


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    """What makes two rows with one uuid the same judgement: all but the local row id, the JSON decoded."""
    return {key: value for key, value in decode_columns(row).items() if key not in ("id", "annotator_id")}


def _double_judgements(conn: sqlite3.Connection, last_old_id: int) -> list[str]:
    """Current judgements of the same answers by the same annotator, one of them new in this merge."""
    groups: dict[tuple[str, int, frozenset[int]], list[tuple[int, str]]] = {}
    for judgement_id, name, prompt_id, uuid, display_order in conn.execute(
        "SELECT j.id, a.name, j.prompt_id, j.uuid, j.display_order FROM current_judgements j "
        "JOIN annotators a ON a.id = j.annotator_id WHERE j.outcome != 'skipped' "
        "AND EXISTS (SELECT 1 FROM judgements new WHERE new.id > ? AND new.annotator_id = j.annotator_id "
        "AND new.prompt_id = j.prompt_id) ORDER BY j.id",
        [last_old_id],
    ):
        key = (name, prompt_id, frozenset(decode_ids(display_order)))
        groups.setdefault(key, []).append((judgement_id, uuid))
    return [
        f"{name} judged the same answers of prompt {prompt_id} twice without a correction: "
        + ", ".join(uuid for _, uuid in judgements)
        for (name, prompt_id, _), judgements in groups.items()
        if len(judgements) > 1 and judgements[-1][0] > last_old_id
    ]
