"""An open project: transactions and the typed reads and writes of prompts, judgements and drafts."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from labeler import domain
from labeler.store import own_files, rounds
from labeler.store.errors import StoreError, WriteFailedError
from labeler.store.flusher import Flusher
from labeler.store.judgement_rows import (
    decode_columns,
    insert_judgement,
    insert_pairs,
    judgement_columns,
    pair_rows,
)
from labeler.store.records import (
    Answer,
    NewAnswer,
    NewRound,
    ProjectStats,
    Prompt,
    RecordedJudgement,
    answer_from_row,
    answers_hash,
    content_hash,
    prompt_from_row,
    prompt_kind_and_content,
    text_hash,
    utc_now,
)

T = TypeVar("T")
_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def _is_busy(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _BUSY_CODES


def _no_flush() -> None:
    pass


class Store:
    """An open project file. Use as a context manager, or call close()."""

    def __init__(self, path: Path, conn: sqlite3.Connection, busy_timeout_s: float):
        self.path = path
        self.conn = conn
        self.busy_timeout_s = busy_timeout_s
        self.is_open = True
        own_files.opened(path)  # so no reader of ours opens it meanwhile: see own_files

    def close(self) -> None:
        if self.is_open:
            self.is_open = False
            self.conn.close()
            own_files.closed(self.path)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transactions ----------------------------------------------------------------------------

    def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(conn)` as one transaction (BEGIN IMMEDIATE); retry it whole while busy.

        Either everything `work` wrote is committed, or nothing is and an exception says why.
        """
        deadline = time.monotonic() + self.busy_timeout_s
        delay = 0.002
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                result = work(self.conn)
                self.conn.execute("COMMIT")
                return result
            except sqlite3.OperationalError as error:
                self._rollback()
                if _is_busy(error) and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.1)
                    continue
                raise self._write_error(error) from None
            except BaseException:
                self._rollback()
                raise

    def write_in_bulk(self, work: Callable[[sqlite3.Connection, Callable[[], None]], T]) -> T:
        """`write` for one very large transaction (an import of hundreds of MB): through SQLite's
        rollback journal instead of the write-ahead log when no other connection has the file open.
        `work(conn, flush)` should call `flush()` once it has started (see Flusher): from then on
        what is written goes on to the disk meanwhile, so the commit finds little left to write.

        In WAL mode every page of such a transaction is written twice, into the log at the commit
        and into the file by the checkpoint after it (SQLite's documentation: WAL "does not work
        well for very large transactions"). With the rollback journal new pages go straight into
        the file, and only the old content of changed pages into the journal: as atomic, and as
        durable with synchronous=EXTRA (the journal's removal, the commit, is synced too). Measured
        on 100,000 prompts x 4 answers (BENCHMARKS.md): the import 10.5 -> 8.8 s with the journal,
        the commit 1.1 -> 0.2 s with the flushing.

        Leaving WAL mode needs the file to itself: when another connection has it open (the
        window, an export), SQLite refuses at once and this is a plain `write` (`flush` does
        nothing). While it runs, others wait to open the file (their busy timeout); afterwards the
        file is in WAL mode again.
        """
        try:
            alone = self.conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
        except sqlite3.OperationalError:  # another connection has the file open
            alone = False
        if not alone:
            return self.write(lambda conn: work(conn, _no_flush))
        self.conn.execute("PRAGMA synchronous=EXTRA")
        flush = Flusher(self.path)
        try:
            return self.write(lambda conn: work(conn, flush))
        finally:
            flush.stop()  # before WAL mode again: see Flusher
            self.conn.execute("PRAGMA synchronous=FULL")
            # Only fails if someone opened the file meanwhile; the next open_store sets WAL again.
            with contextlib.suppress(sqlite3.OperationalError):
                self.conn.execute("PRAGMA journal_mode=WAL")

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def _write_error(self, error: sqlite3.Error) -> Exception:
        code = (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF
        reasons = {
            sqlite3.SQLITE_BUSY: "the project file is locked by another program",
            sqlite3.SQLITE_LOCKED: "the project file is locked by another program",
            sqlite3.SQLITE_READONLY: "the project file is read-only",
            sqlite3.SQLITE_FULL: "the disk is full",
            sqlite3.SQLITE_IOERR: "the disk reported an input/output error",
            sqlite3.SQLITE_CANTOPEN: "the project file can no longer be opened",
        }
        if code in reasons:
            return WriteFailedError(f"{self.path}: nothing was saved: {reasons[code]}")
        return error

    # -- settings and guidelines -----------------------------------------------------------------

    def setting(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        encoded = json.dumps(value)
        self.write(
            lambda conn: conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, encoded],
            )
        )

    def add_guidelines(self, text: str) -> int:
        """Store a new version of the guidelines; returns its version number."""

        def add(conn: sqlite3.Connection) -> int:
            (latest,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM guidelines").fetchone()
            conn.execute(
                "INSERT INTO guidelines (version, text, created_at) VALUES (?, ?, ?)",
                [latest + 1, text, utc_now()],
            )
            return latest + 1

        return self.write(add)

    def guidelines(self) -> tuple[int, str] | None:
        """The latest guidelines as (version, text), or None if the project has none."""
        row = self.conn.execute("SELECT version, text FROM guidelines ORDER BY version DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else None

    # -- annotators, prompts and answers ---------------------------------------------------------

    def annotator_id(self, name: str) -> int:
        """The id of the annotator called `name`, added to the project if new."""
        return self.write(lambda conn: ensure_annotator(conn, name))

    def add_prompt(
        self,
        prompt: str | Sequence[Mapping[str, str]],
        answers: Sequence[NewAnswer] = (),
        *,
        external_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> tuple[int, list[int]]:
        """Add a prompt (a text or a chat) and its answers; returns (prompt id, answer ids).

        A prompt or answer already in the project (same content) is not added twice: its
        existing id is returned, and only the new answers are added. An answer may be empty: a
        policy can say nothing, and an annotator must be able to rank that.
        """
        if not prompt or (isinstance(prompt, str) and not prompt.strip()):
            raise StoreError("a prompt cannot be empty")
        kind, content = prompt_kind_and_content(prompt)

        def add(conn: sqlite3.Connection) -> tuple[int, list[int]]:
            prompt_id = _insert_prompt(conn, prompt, kind, content, external_id, metadata)
            return prompt_id, _insert_answers(conn, prompt_id, answers, round_number=1)

        return self.write(add)

    def add_round(self, prompt: str | Sequence[Mapping[str, str]], answers: Sequence[NewAnswer]) -> NewRound:
        """Add a generate run's answers to a prompt (added if new), in the round the prompt's next task
        takes new answers in (rounds.round_for_new_answers), as many as that task has room for, in one
        transaction. Answers the prompt already has are not added again."""
        kind, content = prompt_kind_and_content(prompt)

        def add(conn: sqlite3.Connection) -> NewRound:
            prompt_id = _insert_prompt(conn, prompt, kind, content, None, None)
            known = {row[0] for row in conn.execute("SELECT text_hash FROM answers WHERE prompt_id = ?", [prompt_id])}
            fresh = list({text_hash(a.text): a for a in answers if text_hash(a.text) not in known}.values())
            room = rounds.room_for_new_answers(conn, prompt_id)
            round_number = rounds.round_for_new_answers(conn, prompt_id)
            added = _insert_answers(conn, prompt_id, fresh[: max(room, 0)], round_number=round_number)
            return NewRound(prompt_id, round_number, added, no_room=len(fresh) - len(added))

        return self.write(add)

    def prompt(self, prompt_id: int) -> Prompt:
        found = self.prompts([prompt_id])
        if not found:
            raise StoreError(f"{self.path}: no prompt with id {prompt_id}")
        return found[prompt_id]

    def prompts(self, prompt_ids: Sequence[int]) -> dict[int, Prompt]:
        """The prompts with these ids (those that exist), each with its answers in id order."""
        ids = json.dumps(sorted(set(prompt_ids)))  # one JSON parameter unpacked by json_each: no SQL built
        answers: dict[int, list[Answer]] = {}
        for row in self.conn.execute(
            "SELECT id, prompt_id, text, model, generation, source, round FROM answers "
            "WHERE prompt_id IN (SELECT value FROM json_each(?)) ORDER BY id",
            [ids],
        ):
            answers.setdefault(row[1], []).append(answer_from_row(row))
        return {
            row[0]: prompt_from_row(row, answers.get(row[0], []))
            for row in self.conn.execute(
                "SELECT id, external_id, kind, content, metadata FROM prompts "
                "WHERE id IN (SELECT value FROM json_each(?))",
                [ids],
            )
        }

    def task(self, prompt_id: int) -> rounds.Task:
        """The answers the prompt's task shows today (its latest round's and the previous round's best)."""
        return rounds.task_of(self.conn, prompt_id)

    def prompt_ids(self) -> list[int]:
        return [row[0] for row in self.conn.execute("SELECT id FROM prompts ORDER BY id")]

    # -- judgements ------------------------------------------------------------------------------

    def record_judgement(
        self,
        prompt_id: int,
        annotator: str,
        judgement: domain.Judgement,
        display_order: Sequence[int],
        *,
        seconds_spent: float | None = None,
        guideline_version: int | None = None,
        supersedes: str | None = None,
        judgement_uuid: str | None = None,
    ) -> RecordedJudgement:
        """Append a judgement and every pair it implies, in one transaction.

        `display_order` is the answer ids in the order the annotator saw them; the ranking must
        place each of them exactly once. `supersedes` names the uuid of an earlier judgement of
        the same prompt that this one corrects. The annotator's draft for the prompt is removed
        in the same transaction. A caller that retries a failed save passes the same
        `judgement_uuid` each time: if it was saved after all, it is returned, never saved twice.
        """
        judgement.validate(list(display_order))

        def record(conn: sqlite3.Connection) -> RecordedJudgement:
            if judgement_uuid is not None:
                saved = conn.execute(
                    "SELECT j.id, j.seq, j.created_at, (SELECT COUNT(*) FROM pairs p WHERE p.judgement_id = j.id) "
                    "FROM judgements j WHERE j.uuid = ?",
                    [judgement_uuid],
                ).fetchone()
                if saved is not None:
                    return RecordedJudgement(saved[0], judgement_uuid, saved[1], saved[2], saved[3])
            texts = _shown_answer_texts(conn, prompt_id, display_order)
            if supersedes is not None:
                _check_supersedable(conn, supersedes, prompt_id)
            annotator_id = ensure_annotator(conn, annotator)
            row = insert_judgement(
                conn,
                judgement_uuid=judgement_uuid,
                prompt_id=prompt_id,
                annotator_id=annotator_id,
                **judgement_columns(judgement, display_order),
                answers_hash=answers_hash(texts),
                seconds_spent=seconds_spent,
                guideline_version=guideline_version,
                supersedes=supersedes,
                round=rounds.judged_round(conn, display_order),
            )
            pairs = judgement.pairs()
            insert_pairs(conn, pair_rows(row.id, prompt_id, pairs))
            conn.execute("DELETE FROM drafts WHERE annotator_id = ? AND prompt_id = ?", [annotator_id, prompt_id])
            return dataclasses.replace(row, pairs=len(pairs))

        return self.write(record)

    def retract_judgement(self, judgement_uuid: str, annotator: str) -> RecordedJudgement:
        """Withdraw a judgement (undo): a new 'retracted' row supersedes it; nothing is deleted."""

        def retract(conn: sqlite3.Connection) -> RecordedJudgement:
            found = conn.execute(
                "SELECT prompt_id, display_order, answers_hash, round FROM judgements WHERE uuid = ?",
                [judgement_uuid],
            ).fetchone()
            if found is None:
                raise StoreError(f"{self.path}: no judgement {judgement_uuid}")
            prompt_id, display_order, shown_hash, judged = found
            _check_supersedable(conn, judgement_uuid, prompt_id)
            return insert_judgement(
                conn,
                prompt_id=prompt_id,
                annotator_id=ensure_annotator(conn, annotator),
                outcome=domain.Outcome.RETRACTED.value,
                display_order=display_order,
                answers_hash=shown_hash,
                supersedes=judgement_uuid,
                round=judged,
            )

        return self.write(retract)

    def judgement_pairs(self, judgement_uuid: str) -> list[domain.Pair]:
        return [
            domain.Pair(*row)
            for row in self.conn.execute(
                "SELECT p.chosen_answer_id, p.rejected_answer_id, p.margin, p.stated_margin FROM pairs p "
                "JOIN judgements j ON j.id = p.judgement_id WHERE j.uuid = ? ORDER BY p.id",
                [judgement_uuid],
            )
        ]

    def judgement_row(self, judgement_uuid: str) -> dict[str, Any]:
        """The stored row of one judgement, JSON columns decoded (`stated_strengths` as stored: None for
        a ranking recorded before they were kept, see domain.recorded_stated_strengths)."""
        cursor = self.conn.execute("SELECT * FROM judgements WHERE uuid = ?", [judgement_uuid])
        row = cursor.fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no judgement {judgement_uuid}")
        return decode_columns(dict(zip([c[0] for c in cursor.description], row, strict=True)))

    # -- drafts and demonstrations ---------------------------------------------------------------

    def save_draft(self, annotator: str, prompt_id: int, state: Mapping[str, Any]) -> None:
        """Save (or replace) the annotator's ranking in progress for a prompt."""
        encoded = json.dumps(state)
        self.write(
            lambda conn: conn.execute(
                "INSERT INTO drafts (annotator_id, prompt_id, state, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (annotator_id, prompt_id) DO UPDATE SET state = excluded.state, "
                "updated_at = excluded.updated_at",
                [ensure_annotator(conn, annotator), prompt_id, encoded, utc_now()],
            )
        )

    def draft(self, annotator: str, prompt_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT d.state FROM drafts d JOIN annotators a ON a.id = d.annotator_id "
            "WHERE a.name = ? AND d.prompt_id = ?",
            [annotator, prompt_id],
        ).fetchone()
        return json.loads(row[0]) if row else None

    def add_demonstration(
        self, prompt_id: int, annotator: str, text: str, *, based_on_answer_id: int | None = None
    ) -> str:
        """Save an answer a person wrote (or rewrote from `based_on_answer_id`); returns its uuid."""
        if not text.strip():
            raise StoreError("a written answer cannot be empty")
        demonstration_uuid = str(uuid.uuid4())
        self.write(
            lambda conn: conn.execute(
                "INSERT INTO demonstrations "
                "(uuid, prompt_id, annotator_id, text, based_on_answer_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    demonstration_uuid,
                    prompt_id,
                    ensure_annotator(conn, annotator),
                    text,
                    based_on_answer_id,
                    utc_now(),
                ],
            )
        )
        return demonstration_uuid

    # -- statistics ------------------------------------------------------------------------------

    def stats(self) -> ProjectStats:
        """Counts for the whole project. Current judgements and pairs are counted as all rows minus
        those of superseded judgements (few), which takes milliseconds where counting through the
        current_* views takes a second on a million pairs."""

        def count(sql: str) -> int:
            return self.conn.execute(sql).fetchone()[0]

        superseded = (
            "SELECT earlier.id, earlier.outcome FROM judgements later "
            "JOIN judgements earlier ON earlier.uuid = later.supersedes WHERE later.supersedes IS NOT NULL"
        )
        every_outcome = dict(self.conn.execute("SELECT outcome, COUNT(*) FROM judgements GROUP BY outcome"))
        superseded_outcome = dict(
            self.conn.execute(f"SELECT outcome, COUNT(*) FROM ({superseded}) GROUP BY outcome")  # noqa: S608
        )
        current = {
            outcome: every_outcome.get(outcome, 0) - superseded_outcome.get(outcome, 0) for outcome in domain.DECISIONS
        }
        superseded_pairs = count(
            f"SELECT COUNT(*) FROM pairs WHERE judgement_id IN (SELECT id FROM ({superseded}))"  # noqa: S608
        )
        return ProjectStats(
            prompts=count("SELECT COUNT(*) FROM prompts"),
            answers=count("SELECT COUNT(*) FROM answers"),
            annotators=count("SELECT COUNT(*) FROM annotators"),
            judgements=sum(current.values()),
            judgement_records=sum(every_outcome.values()),
            ranked=current[domain.Outcome.RANKED],
            all_bad=current[domain.Outcome.ALL_BAD],
            skipped=current[domain.Outcome.SKIPPED],
            pairs=count("SELECT COUNT(*) FROM pairs") - superseded_pairs,
            demonstrations=count("SELECT COUNT(*) FROM demonstrations"),
            drafts=count("SELECT COUNT(*) FROM drafts"),
        )


# -- helpers that run inside a write transaction ---------------------------------------------------


def ensure_annotator(conn: sqlite3.Connection, name: str) -> int:
    name = name.strip()
    if not name:
        raise StoreError("an annotator needs a name")
    conn.execute(
        "INSERT INTO annotators (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        [name, utc_now()],
    )
    return conn.execute("SELECT id FROM annotators WHERE name = ?", [name]).fetchone()[0]


def _shown_answer_texts(conn: sqlite3.Connection, prompt_id: int, display_order: Sequence[int]) -> list[str]:
    """The texts of the shown answers in display order; each must be an answer of the prompt."""
    texts = dict(conn.execute("SELECT id, text FROM answers WHERE prompt_id = ?", [prompt_id]).fetchall())
    if not texts and conn.execute("SELECT 1 FROM prompts WHERE id = ?", [prompt_id]).fetchone() is None:
        raise StoreError(f"no prompt with id {prompt_id}")
    foreign = [a for a in display_order if a not in texts]
    if foreign:
        raise domain.RankingError(f"answers {foreign} are not answers of prompt {prompt_id}")
    return [texts[a] for a in display_order]


def _check_supersedable(conn: sqlite3.Connection, earlier_uuid: str, prompt_id: int) -> None:
    found = conn.execute("SELECT prompt_id, outcome FROM judgements WHERE uuid = ?", [earlier_uuid]).fetchone()
    if found is None:
        raise StoreError(f"no judgement {earlier_uuid} to correct")
    if found[0] != prompt_id:
        raise StoreError(f"judgement {earlier_uuid} is of another prompt")
    if found[1] == domain.Outcome.RETRACTED:
        raise StoreError(f"judgement {earlier_uuid} is a retraction, not a judgement")
    later = conn.execute("SELECT uuid FROM judgements WHERE supersedes = ?", [earlier_uuid]).fetchone()
    if later is not None:
        raise StoreError(f"judgement {earlier_uuid} was already superseded by {later[0]}")


def _insert_prompt(
    conn: sqlite3.Connection,
    prompt: str | Sequence[Mapping[str, str]],
    kind: str,
    content: str,
    external_id: str | None,
    metadata: Mapping[str, Any] | None,
) -> int:
    """The prompt's id, the prompt added first if the project does not hold it yet."""
    conn.execute(
        "INSERT INTO prompts (external_id, kind, content, content_hash, metadata, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (content_hash) DO NOTHING",
        [external_id, kind, content, content_hash(prompt), json.dumps(metadata or {}), utc_now()],
    )
    return conn.execute("SELECT id FROM prompts WHERE content_hash = ?", [content_hash(prompt)]).fetchone()[0]


def _insert_answers(
    conn: sqlite3.Connection, prompt_id: int, answers: Sequence[NewAnswer], *, round_number: int
) -> list[int]:
    """The answers' ids, those the prompt does not have yet added in `round_number`."""
    now = utc_now()
    answer_ids = []
    for answer in answers:
        digest = text_hash(answer.text)
        conn.execute(
            "INSERT INTO answers (prompt_id, text, text_hash, model, generation, source, created_at, round) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (prompt_id, text_hash) DO NOTHING",
            [
                prompt_id,
                answer.text,
                digest,
                answer.model,
                json.dumps(answer.generation or {}),
                answer.source,
                now,
                round_number,
            ],
        )
        (answer_id,) = conn.execute(
            "SELECT id FROM answers WHERE prompt_id = ? AND text_hash = ?", [prompt_id, digest]
        ).fetchone()
        answer_ids.append(answer_id)
    return answer_ids
