"""A reward model's scores for the project's answers, stored under the model's name (`labeler-train score`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from labeler.store.project import Store
from labeler.store.records import utc_now


def write_answer_scores(store: Store, model: str, scores: Sequence[tuple[int, float]]) -> int:
    """Store (answer id, score) pairs under `model` in one transaction, replacing that model's earlier
    scores for the same answers; returns how many were written. A non-finite score is refused."""
    if not model.strip():
        raise ValueError("a score needs a model name")
    for answer_id, score in scores:
        if not math.isfinite(score):
            raise ValueError(f"answer {answer_id}: the score {score} is not a finite number")
    stamp = utc_now()
    rows = [(answer_id, model, float(score), stamp) for answer_id, score in scores]

    def work(conn) -> int:
        conn.executemany(
            "INSERT INTO answer_scores (answer_id, model, score, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (model, answer_id) DO UPDATE SET score = excluded.score, created_at = excluded.created_at",
            rows,
        )
        return len(rows)

    return store.write(work)


def answer_scores(store: Store, model: str) -> dict[int, float]:
    """answer id -> score, for every answer `model` has scored."""
    return dict(store.conn.execute("SELECT answer_id, score FROM answer_scores WHERE model = ?", [model]))


def scoring_models(store: Store) -> list[str]:
    """The names of the models that have scored answers in this project, in name order."""
    return [row[0] for row in store.conn.execute("SELECT DISTINCT model FROM answer_scores ORDER BY model")]
