"""Rounds: which answers of a prompt make up the task an annotator is given.

A round is one set of candidate answers for a prompt. Imported answers are round 1; each
`labeler-train generate` run adds its answers to a new round (the prompt's latest round + 1), or to
the latest round while nobody has judged it yet, so answers that were never shown are not left behind
in a round nobody will be offered again.

A task is (prompt, its latest round R). It shows round R's answers and, from R = 2 on, the best
current answer of round R-1's task (`best_answer`), as one more card not marked as special: a ranking
then places the new answers against the best of the old, which links the rounds, so the ratings of
successive policies are comparable (labeler stats). Only the latest round is offered: a round
overtaken by a newer one before it had all its judges is not offered again.

2 <= K <= 9 holds because generate leaves room for the carried answer (`room_for_new_answers`). If a
round reaches 9 answers some other way (a merge of two machines' rounds), the task shows that round's
answers without the carried one, and a task of 1 or more than 9 answers is not offered at all.

A judgement records the round of the task it judged: the latest round among the answers it was shown,
decided by the store inside the judgement's transaction (`judged_round`).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from labeler.domain import MAX_ANSWERS, Outcome


@dataclass(frozen=True)
class Task:
    prompt_id: int
    round: int  # 0 when the prompt has no answers
    answer_ids: tuple[int, ...]  # in id order, the carried answer among them
    carried: int | None  # the previous round's best answer, shown again; None in round 1 or without one


def latest_round(conn: sqlite3.Connection, prompt_id: int) -> int:
    """The prompt's latest round (0 when it has no answers): one step of the answers' (prompt, round) index."""
    return conn.execute("SELECT COALESCE(MAX(round), 0) FROM answers WHERE prompt_id = ?", [prompt_id]).fetchone()[0]


def task_of(conn: sqlite3.Connection, prompt_id: int) -> Task:
    """The task a prompt gives today: its latest round's answers and the previous round's best one."""
    latest = latest_round(conn, prompt_id)
    own = [
        row[0] for row in conn.execute("SELECT id FROM answers WHERE prompt_id = ? AND round = ?", [prompt_id, latest])
    ]
    carried = best_answer(conn, prompt_id, latest - 1) if latest > 1 and len(own) < MAX_ANSWERS else None
    return Task(prompt_id, latest, tuple(sorted([*own, *([carried] if carried is not None else [])])), carried)


def best_answer(conn: sqlite3.Connection, prompt_id: int, round_number: int) -> int | None:
    """The best answer of a round by its current rankings: the most pairs won minus pairs lost, over every
    annotator's current ranking of that round; the earlier answer on a tie. None when nobody ranked the
    round (not judged, skipped, all bad, or withdrawn)."""
    net: Counter[int] = Counter()
    for chosen, rejected in conn.execute(
        "SELECT p.chosen_answer_id, p.rejected_answer_id FROM current_judgements j "
        "JOIN pairs p ON p.judgement_id = j.id WHERE j.prompt_id = ? AND j.round = ? AND j.outcome = ?",
        [prompt_id, round_number, Outcome.RANKED],
    ):
        net[chosen] += 1
        net[rejected] -= 1
    if not net:
        return None
    return min(net, key=lambda answer: (-net[answer], answer))


def round_for_new_answers(conn: sqlite3.Connection, prompt_id: int) -> int:
    """The round a generate run adds its answers to: the latest one while nobody has judged it (its
    answers were never ranked, so they go into one task with the new ones), else the next. A round only
    skipped counts as not judged."""
    latest = latest_round(conn, prompt_id)
    if latest == 0:
        return 1
    judged = conn.execute(
        "SELECT 1 FROM current_judgements WHERE prompt_id = ? AND round = ? AND outcome != ? LIMIT 1",
        [prompt_id, latest, Outcome.SKIPPED],
    ).fetchone()
    return latest + 1 if judged else latest


def prompts_judged_in_their_latest_round(conn: sqlite3.Connection) -> set[int]:
    """The prompts whose new answers would start a next round (round_for_new_answers' rule, for every prompt
    at once): their latest round has a current judgement that is not a skip."""
    return {
        row[0]
        for row in conn.execute(
            "SELECT j.prompt_id FROM current_judgements j WHERE j.outcome != ? "
            "AND j.round = (SELECT MAX(a.round) FROM answers a WHERE a.prompt_id = j.prompt_id)",
            [Outcome.SKIPPED],
        )
    }


def room_for_new_answers(conn: sqlite3.Connection, prompt_id: int) -> int:
    """How many new answers the prompt's next task can take and stay within 9 cards, the carried one counted."""
    new_round = round_for_new_answers(conn, prompt_id)
    if new_round == latest_round(conn, prompt_id):
        return MAX_ANSWERS - len(task_of(conn, prompt_id).answer_ids)
    carried = best_answer(conn, prompt_id, new_round - 1) is not None
    return MAX_ANSWERS - carried


def judged_round(conn: sqlite3.Connection, shown: Sequence[int]) -> int:
    """The round a judgement of these answers belongs to: the latest round among them."""
    placeholders = ",".join("?" for _ in shown)
    (found,) = conn.execute(
        f"SELECT COALESCE(MAX(round), 1) FROM answers WHERE id IN ({placeholders})",  # noqa: S608 (only ?s)
        list(shown),
    ).fetchone()
    return found
