"""Projects as the versions before migration m004 recorded them: every strength stored with the default
(2) filled in, and no record of which were stated. Made with the migrations of then and the rows that
version's record_judgement wrote, so the readers of today can be checked on them."""

import json
from pathlib import Path

import pytest

from labeler.domain import Ranking, ranking_to_pairs
from labeler.migrations import SCHEMA
from labeler.store import Store, answers_hash, content_hash, open_store, text_hash, utc_now
from labeler.store.judgement_rows import next_seq
from labeler.store.project import ensure_annotator

MIGRATIONS_BEFORE_M004 = SCHEMA[:3]


def record_as_before_m004(store: Store, prompt_id: int, annotator: str, tiers: list, strengths: list[int]) -> None:
    """A ranking of the answers it places, in that order, with its pairs, as record_judgement wrote it
    before m004: `strengths` as stored, the default already filled in."""
    ranking = Ranking.of(tiers, strengths)
    shown = [answer for tier in ranking.tiers for answer in tier]
    texts = dict(store.conn.execute("SELECT id, text FROM answers WHERE prompt_id = ?", [prompt_id]))

    def record(conn) -> None:
        person = ensure_annotator(conn, annotator)
        cursor = conn.execute(
            "INSERT INTO judgements (uuid, prompt_id, annotator_id, seq, created_at, outcome, tiers, strengths, "
            "display_order, answers_hash) VALUES (?, ?, ?, ?, ?, 'ranked', ?, ?, ?, ?)",
            [
                f"before-m004-{prompt_id}-{annotator}",
                prompt_id,
                person,
                next_seq(conn, person),
                utc_now(),
                json.dumps([list(tier) for tier in ranking.tiers]),
                json.dumps(strengths),
                json.dumps(shown),
                answers_hash(texts[answer] for answer in shown),
            ],
        )
        conn.executemany(
            "INSERT INTO pairs (judgement_id, prompt_id, chosen_answer_id, rejected_answer_id, margin) "
            "VALUES (?, ?, ?, ?, ?)",
            [(cursor.lastrowid, prompt_id, p.chosen, p.rejected, p.margin) for p in ranking_to_pairs(ranking)],
        )

    store.write(record)


def add_prompt_before_m005(store: Store, prompt: str, answer_texts: list[str]) -> tuple[int, list[int]]:
    """A text prompt and its answers as the versions before rounds (m005) added them; (prompt id, answer ids)."""

    def add(conn) -> tuple[int, list[int]]:
        now = utc_now()
        prompt_id = conn.execute(
            "INSERT INTO prompts (kind, content, content_hash, created_at) VALUES ('text', ?, ?, ?)",
            [prompt, content_hash(prompt), now],
        ).lastrowid
        ids = [
            conn.execute(
                "INSERT INTO answers (prompt_id, text, text_hash, created_at) VALUES (?, ?, ?, ?)",
                [prompt_id, text, text_hash(text), now],
            ).lastrowid
            for text in answer_texts
        ]
        return prompt_id, ids

    return store.write(add)


def make_project_before_m004(path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """A project of three prompts ranked before m004, brought up to date by opening it; the answer ids of
    each prompt, by name.

    "stated": strengths 3 and 1, which only a person or a file can have given; "default": strengths
    2 and 2, which may have been stated or filled in; "mixed": 2 and 3.
    """
    answers = {}
    with monkeypatch.context() as before:
        before.setattr("labeler.migrations.SCHEMA", MIGRATIONS_BEFORE_M004)
        with open_store(path, create=True) as store:
            for name, strengths in [("stated", [3, 1]), ("default", [2, 2]), ("mixed", [2, 3])]:
                texts = [f"{name} answer {a}" for a in range(3)]
                prompt_id, ids = add_prompt_before_m005(store, f"{name} prompt", texts)
                record_as_before_m004(store, prompt_id, "ann", [[ids[0]], [ids[1]], [ids[2]]], strengths)
                answers[name] = ids
    open_store(path).close()
    return answers
