"""Bulk import: many prompts, answers and judgements in one transaction, all or nothing.

Prompts and answers are identified by content, so importing the same content again adds nothing.
An imported judgement gets a uuid derived from its content and its source file's name, so the same
judgement imported again from the same source is recognised and not added twice (a row repeated
within one file is kept: the n-th copy gets its own uuid).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labeler import domain
from labeler.store.project import Store, ensure_annotator, next_seq
from labeler.store.records import answers_hash, content_hash, prompt_kind_and_content, text_hash, utc_now

# Fixed namespace for the uuids of imported judgements (uuid5 of their content).
IMPORTED_JUDGEMENT_NAMESPACE = uuid.UUID("6f1c3f4e-2b7a-4c1d-9a52-7d0e5b8c4a11")


@dataclass(frozen=True)
class PromptToImport:
    prompt: str | Sequence[Mapping[str, str]]
    answers: Sequence[str]
    models: Sequence[str | None]
    generations: Sequence[Mapping[str, Any]]
    source: str  # where the answers came from (the file's name)
    external_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JudgementToImport:
    prompt: int  # index into the prompts of the same import
    annotator: str
    ranking: domain.Ranking  # over indices into that prompt's answers
    source: str  # the file it came from (its name), part of the judgement's identity
    likert: int | None = None
    comment: str = ""


@dataclass(frozen=True)
class ImportCounts:
    prompts_added: int
    answers_added: int
    judgements_added: int
    judgements_already_there: int
    pairs_added: int


def external_id_owners(store: Store) -> dict[str, str]:
    """Every external id in the project -> the content hash of the prompt that has it."""
    return dict(store.conn.execute("SELECT external_id, content_hash FROM prompts WHERE external_id IS NOT NULL"))


def import_batch(
    store: Store, prompts: Sequence[PromptToImport], judgements: Sequence[JudgementToImport]
) -> ImportCounts:
    """Write `prompts` (with their answers) and `judgements` in one transaction.

    The caller has validated every item (domain rules, 2-9 distinct answers, one content per
    external id); anything that still fails here rolls the whole import back.
    """
    return store.write(lambda conn: _import(conn, prompts, judgements))


def _import(
    conn: sqlite3.Connection,
    prompts: Sequence[PromptToImport],
    judgements: Sequence[JudgementToImport],
) -> ImportCounts:
    now = utc_now()
    before = _counts(conn)

    # 1. Prompts, identified by content: insert the new ones, then look every one's id up.
    prompt_hashes = [content_hash(p.prompt) for p in prompts]
    conn.executemany(
        "INSERT INTO prompts (external_id, kind, content, content_hash, metadata, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (content_hash) DO NOTHING",
        (
            (
                p.external_id,
                *prompt_kind_and_content(p.prompt),
                digest,
                _json_object(p.metadata),
                now,
            )
            for p, digest in zip(prompts, prompt_hashes, strict=True)
        ),
    )
    prompt_ids = dict(
        conn.execute(
            "SELECT content_hash, id FROM prompts WHERE content_hash IN (SELECT value FROM json_each(?))",
            [json.dumps(prompt_hashes)],
        ).fetchall()
    )

    # 2. Answers, identified by (prompt, text): the same, keyed by both.
    answer_hashes = [[text_hash(text) for text in p.answers] for p in prompts]
    conn.executemany(
        "INSERT INTO answers (prompt_id, text, text_hash, model, generation, source, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (prompt_id, text_hash) DO NOTHING",
        (
            (prompt_ids[digest], text, answer_digest, model, _json_object(generation), p.source, now)
            for p, digest, digests in zip(prompts, prompt_hashes, answer_hashes, strict=True)
            for text, answer_digest, model, generation in zip(p.answers, digests, p.models, p.generations, strict=True)
        ),
    )
    # Only judgements need the answers' ids (a prompts-only import of 400k answers skips the lookup).
    answer_ids = _answer_ids(conn, sorted({prompt_ids[prompt_hashes[j.prompt]] for j in judgements}))

    # 3. Judgements: skip the ones this source already brought, then append the rest with pairs.
    identities = _judgement_uuids(judgements, prompts, prompt_hashes, answer_hashes)
    known = {
        row[0]
        for row in conn.execute(
            "SELECT uuid FROM judgements WHERE uuid IN (SELECT value FROM json_each(?))",
            [json.dumps(identities)],
        )
    }
    already_there = 0
    pair_rows = []
    for judgement, identity in zip(judgements, identities, strict=True):
        if identity in known:
            already_there += 1
            continue
        known.add(identity)
        prompt = prompts[judgement.prompt]
        prompt_id = prompt_ids[prompt_hashes[judgement.prompt]]
        ids = [answer_ids[(prompt_id, digest)] for digest in answer_hashes[judgement.prompt]]
        ranking = domain.Ranking(
            tuple(tuple(ids[i] for i in tier) for tier in judgement.ranking.tiers),
            judgement.ranking.strengths,
        )
        person = ensure_annotator(conn, judgement.annotator)
        cursor = conn.execute(
            "INSERT INTO judgements (uuid, prompt_id, annotator_id, seq, created_at, outcome, tiers, "
            "strengths, display_order, answers_hash, likert, comment) "
            "VALUES (?, ?, ?, ?, ?, 'ranked', ?, ?, ?, ?, ?, ?)",
            [
                identity,
                prompt_id,
                person,
                next_seq(conn, person),
                now,
                json.dumps([list(tier) for tier in ranking.tiers]),
                json.dumps(list(ranking.strengths)),
                json.dumps(ids),
                answers_hash(prompt.answers),
                judgement.likert,
                judgement.comment,
            ],
        )
        pair_rows.extend(
            (cursor.lastrowid, prompt_id, pair.chosen, pair.rejected, pair.margin)
            for pair in domain.ranking_to_pairs(ranking)
        )
    conn.executemany(
        "INSERT INTO pairs (judgement_id, prompt_id, chosen_answer_id, rejected_answer_id, margin) "
        "VALUES (?, ?, ?, ?, ?)",
        pair_rows,
    )
    after = _counts(conn)
    return ImportCounts(
        prompts_added=after[0] - before[0],
        answers_added=after[1] - before[1],
        judgements_added=after[2] - before[2],
        judgements_already_there=already_there,
        pairs_added=len(pair_rows),
    )


def _json_object(mapping: Mapping[str, Any]) -> str:
    # Most answers come with no settings: skip json.dumps for them (a measurable share of a big import).
    return json.dumps(dict(mapping), ensure_ascii=False) if mapping else "{}"


def _counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    return conn.execute(
        "SELECT (SELECT COUNT(*) FROM prompts), (SELECT COUNT(*) FROM answers), (SELECT COUNT(*) FROM judgements)"
    ).fetchone()


def _answer_ids(conn: sqlite3.Connection, prompt_ids: Sequence[int]) -> dict[tuple[int, str], int]:
    """(prompt id, text hash) -> answer id for every answer of these prompts."""
    rows = conn.execute(
        "SELECT prompt_id, text_hash, id FROM answers WHERE prompt_id IN (SELECT value FROM json_each(?))",
        [json.dumps(list(prompt_ids))],
    )
    return {(prompt_id, digest): answer_id for prompt_id, digest, answer_id in rows}


def _judgement_uuids(
    judgements: Sequence[JudgementToImport],
    prompts: Sequence[PromptToImport],
    prompt_hashes: Sequence[str],
    answer_hashes: Sequence[Sequence[str]],
) -> list[str]:
    """A uuid per judgement from its content and source; the n-th identical copy gets n in it."""
    seen: Counter[str] = Counter()
    identities = []
    for judgement in judgements:
        digests = answer_hashes[judgement.prompt]
        content = json.dumps(
            [
                judgement.source,
                judgement.annotator,
                prompt_hashes[judgement.prompt],
                [[digests[i] for i in tier] for tier in judgement.ranking.tiers],
                list(judgement.ranking.strengths),
                sorted(digests),
                judgement.likert,
                judgement.comment,
            ]
        )
        identities.append(str(uuid.uuid5(IMPORTED_JUDGEMENT_NAMESPACE, f"{content}#{seen[content]}")))
        seen[content] += 1
    return identities
