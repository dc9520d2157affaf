"""What the Browse tab reads: the prompts a filter keeps, a page of their rows, one prompt's judgements.

A lead reviewing a project searches the text and narrows by round, status, annotator, model and flag;
with a round chosen, the other filters look at that round's answers and judgements only. Each
filter is one fixed SQL clause with its value as a parameter (no SQL is built from what a user
types), and only the current judgements count (`current_judgements`: not superseded, not a
retraction). The rows are read a page at a time, for the rows a view shows: a 100,000-prompt
project costs a list of ids, not 100,000 rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from labeler.domain import Outcome
from labeler.store.project import Store

TITLE_CHARS = 120
ANY_FLAG = "*"
STOP_CHECK_STEPS = 10_000  # SQLite virtual-machine steps between two asks whether to stop: well under a millisecond


class Status(StrEnum):
    """Where a prompt stands, from its current judgements (a prompt can be in more than one)."""

    NOT_JUDGED = "not judged"
    RANKED = "ranked"
    ALL_BAD = "all bad"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class PromptFilter:
    text: str = ""  # in the prompt or any of its answers, any case
    status: Status | None = None
    annotator: str | None = None  # has a current judgement by them
    model: str | None = None  # has an answer by it
    flag: str | None = None  # a current judgement flags one of its answers so (ANY_FLAG: with any flag)
    round: int | None = None  # has answers in this round; the filters above then look at this round only


@dataclass(frozen=True)
class PromptRow:
    id: int
    external_id: str | None
    title: str  # the prompt's start, or a chat's last user turn, on one line
    answers: int
    ranked: int
    all_bad: int
    skipped: int
    flagged: int  # current judgements that flag an answer
    last_judged: str | None  # when its newest current judgement was saved (UTC, ISO 8601)
    round: int  # its latest round (labeler.store.rounds)

    @property
    def status(self) -> str:
        counts = [(self.ranked, "ranked"), (self.all_bad, "all bad"), (self.skipped, "skipped")]
        return " · ".join(f"{n} {word}" for n, word in counts if n) or Status.NOT_JUDGED.value


@dataclass(frozen=True)
class JudgementView:
    """One current judgement, in the answers' numbers (their order in the project, as Browse shows them)."""

    annotator: str
    round: int
    created_at: str
    outcome: str
    ranking: str  # "2 > 1 = 3" (>, >>, >>> by strength), "" unless ranked
    flags: dict[int, list[str]]  # answer number -> flags
    likert: int | None
    comment: str
    skip_reason: str | None
    seconds_spent: float | None
    guideline_version: int | None


# One fixed query: each filter's clause is passed over when its parameter is NULL, so no SQL is built
# from what a user types (SQLite stops at the first true term of an OR, so an unused filter costs nothing).
_MATCHING = """
SELECT p.id FROM prompts p
WHERE (:round IS NULL OR EXISTS (SELECT 1 FROM answers a WHERE a.prompt_id = p.id AND a.round = :round))
  AND (:text IS NULL OR instr(lower(p.content), :text) > 0
       OR EXISTS (SELECT 1 FROM answers a WHERE a.prompt_id = p.id AND instr(lower(a.text), :text) > 0
                  AND (:round IS NULL OR a.round = :round)))
  AND (:status IS NULL
       OR (:status = 'not judged' AND NOT EXISTS (SELECT 1 FROM current_judgements j WHERE j.prompt_id = p.id
                                                  AND (:round IS NULL OR j.round = :round)))
       OR (:status != 'not judged'
           AND EXISTS (SELECT 1 FROM current_judgements j WHERE j.prompt_id = p.id AND j.outcome = :outcome
                       AND (:round IS NULL OR j.round = :round))))
  AND (:annotator IS NULL
       OR EXISTS (SELECT 1 FROM current_judgements j JOIN annotators n ON n.id = j.annotator_id
                  WHERE j.prompt_id = p.id AND n.name = :annotator AND (:round IS NULL OR j.round = :round)))
  AND (:model IS NULL OR EXISTS (SELECT 1 FROM answers a WHERE a.prompt_id = p.id AND a.model = :model
                                 AND (:round IS NULL OR a.round = :round)))
  AND (:flag IS NULL
       OR EXISTS (SELECT 1 FROM current_judgements j WHERE j.prompt_id = p.id AND j.flags != '{}'
                  AND (:round IS NULL OR j.round = :round)
                  AND (:flag = '*' OR EXISTS (SELECT 1 FROM json_each(j.flags) answer, json_each(answer.value) f
                                               WHERE f.value = :flag))))
ORDER BY p.id
"""
_OUTCOMES = {Status.RANKED: Outcome.RANKED, Status.ALL_BAD: Outcome.ALL_BAD, Status.SKIPPED: Outcome.SKIPPED}


def matching_prompts(store: Store, wanted: PromptFilter, stop: Callable[[], bool] | None = None) -> list[int] | None:
    """The ids of the prompts `wanted` keeps, in the project's order; None if `stop()` became true
    meanwhile (a newer search overtook this one: SQLite asks every STOP_CHECK_STEPS steps, so a
    search typed on does not leave older ones reading the whole project on the other core)."""
    parameters = {
        "text": wanted.text.strip().lower() or None,
        "status": wanted.status.value if wanted.status else None,
        "outcome": _OUTCOMES[wanted.status].value if wanted.status in _OUTCOMES else None,
        "annotator": wanted.annotator or None,
        "model": wanted.model or None,
        "flag": wanted.flag or None,
        "round": wanted.round,
    }
    if stop is not None:
        store.conn.set_progress_handler(lambda: int(stop()), STOP_CHECK_STEPS)
    try:
        return [row[0] for row in store.conn.execute(_MATCHING, parameters)]
    except sqlite3.OperationalError:
        if stop is not None and stop():
            return None  # interrupted
        raise
    finally:
        if stop is not None:
            store.conn.set_progress_handler(None, 0)


def prompt_rows(store: Store, prompt_ids: list[int]) -> list[PromptRow]:
    """The rows of these prompts (a page a view shows), in the order given."""
    ids = json.dumps(prompt_ids)
    found = {}
    for row in store.conn.execute(
        """
        WITH wanted(id) AS (SELECT value FROM json_each(:ids)),
        judged AS (
            SELECT prompt_id, SUM(outcome = 'ranked') AS ranked, SUM(outcome = 'all_bad') AS all_bad,
                   SUM(outcome = 'skipped') AS skipped, SUM(flags != '{}') AS flagged, MAX(created_at) AS last
            FROM current_judgements WHERE prompt_id IN wanted GROUP BY prompt_id),
        counted AS (SELECT prompt_id, COUNT(*) AS answers, MAX(round) AS latest FROM answers
                    WHERE prompt_id IN wanted GROUP BY prompt_id)
        SELECT p.id, p.external_id, p.kind, substr(p.content, 1, 4000), coalesce(c.answers, 0),
               coalesce(j.ranked, 0), coalesce(j.all_bad, 0), coalesce(j.skipped, 0), coalesce(j.flagged, 0), j.last,
               coalesce(c.latest, 1)
        FROM prompts p LEFT JOIN judged j ON j.prompt_id = p.id LEFT JOIN counted c ON c.prompt_id = p.id
        WHERE p.id IN wanted
        """,
        {"ids": ids},
    ):
        prompt_id, external_id, kind, start, *counts, last, latest = row
        found[prompt_id] = PromptRow(prompt_id, external_id, title(kind, start), *counts, last, latest)
    return [found[prompt_id] for prompt_id in prompt_ids if prompt_id in found]


def title(kind: str, content_start: str) -> str:
    """A prompt on one line: its start, or a chat's last user message (what the answers reply to)."""
    if kind == "chat":
        content_start = "[chat] " + _last_user_turn(content_start)
    line = " ".join(content_start.split())
    return line[:TITLE_CHARS] + ("…" if len(line) > TITLE_CHARS else "")


def _last_user_turn(chat_json: str) -> str:
    try:
        messages = json.loads(chat_json)
    except ValueError:  # a long chat, cut before its end: its raw start will do
        return chat_json
    user_turns = [m.get("content", "") for m in messages if m.get("role") == "user"]
    return user_turns[-1] if user_turns else ""


def judgements_of(store: Store, prompt_id: int) -> list[JudgementView]:
    """The prompt's current judgements, oldest first."""
    numbers = {
        answer_id: number
        for number, (answer_id,) in enumerate(
            store.conn.execute("SELECT id FROM answers WHERE prompt_id = ? ORDER BY id", [prompt_id]), start=1
        )
    }
    views = []
    for row in store.conn.execute(
        "SELECT n.name, j.round, j.created_at, j.outcome, j.tiers, j.strengths, j.flags, j.likert, j.comment, "
        "j.skip_reason, j.seconds_spent, j.guideline_version FROM current_judgements j "
        "JOIN annotators n ON n.id = j.annotator_id WHERE j.prompt_id = ? ORDER BY j.created_at, j.id",
        [prompt_id],
    ):
        annotator, round_number, created_at, outcome, tiers, strengths, flags, likert, comment, skip_reason = row[:10]
        seconds, version = row[10:]
        ranking = _ranking_text(json.loads(tiers), json.loads(strengths), numbers) if outcome == Outcome.RANKED else ""
        views.append(
            JudgementView(
                annotator,
                round_number,
                created_at,
                outcome,
                ranking,
                {numbers[int(answer)]: marks for answer, marks in json.loads(flags).items()},
                likert,
                comment,
                skip_reason,
                seconds,
                version,
            )
        )
    return views


def _ranking_text(tiers: list[list[int]], strengths: list[int], numbers: dict[int, int]) -> str:
    parts = []
    for index, tier in enumerate(tiers):
        if index:
            parts.append(">" * strengths[index - 1])
        parts.append(" = ".join(str(numbers[answer]) for answer in sorted(tier, key=numbers.__getitem__)))
    return " ".join(parts)


def annotator_names(store: Store) -> list[str]:
    return [row[0] for row in store.conn.execute("SELECT name FROM annotators ORDER BY name")]


def model_names(store: Store) -> list[str]:
    query = "SELECT DISTINCT model FROM answers WHERE model IS NOT NULL ORDER BY 1"
    return [row[0] for row in store.conn.execute(query)]


def round_numbers(store: Store) -> list[int]:
    """The rounds the project's answers are in (1 for a project that never generated a second)."""
    return [row[0] for row in store.conn.execute("SELECT DISTINCT round FROM answers ORDER BY 1")]


def prompt_count(store: Store) -> int:
    return store.conn.execute("SELECT COUNT(*) FROM prompts").fetchone()[0]
