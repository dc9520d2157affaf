"""The project file's schema, as sqlite-utils migrations.

An applied migration is never edited: change the schema by adding a new function below. The store
applies pending migrations when it opens a project and refuses a file that has applied a migration
this version does not know (it was written by a newer version).

Names are plural and self-explaining so the file reads well in `sqlite3` or `sqlite-utils` without
our code. JSON columns hold lists and objects as text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

MIGRATION_SET = "labeler"
MIGRATIONS_TABLE = "_sqlite_migrations"  # where sqlite-utils records applied migrations
# The migrations in the order they apply; a file records each one's function name once applied.
SCHEMA: list[Callable[[Database], None]] = []


def migration(function: Callable[[Database], None]) -> Callable[[Database], None]:
    SCHEMA.append(function)
    return function


def known_migration_names() -> set[str]:
    return {function.__name__ for function in SCHEMA}


def apply_migrations(conn: sqlite3.Connection) -> None:
    """Apply pending migrations inside the caller's transaction (the store's BEGIN IMMEDIATE), so
    two processes opening a new project at once cannot both create the schema."""
    # Imported here, not at the top: sqlite-utils imports pandas when it is installed (0.6 s),
    # and opening an up-to-date project needs no migration.
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(MIGRATION_SET)
    for function in SCHEMA:
        migrations()(function)
    migrations.apply(Database(conn))


def _run_script(db: Database, script: str) -> None:
    """Run several statements inside the migration's transaction.

    sqlite3's executescript() would COMMIT first and so break the migration's atomicity.
    """
    statement = ""
    for piece in script.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                db.execute(statement)
            statement = ""
    if statement.strip(" \n;"):
        raise ValueError(f"incomplete SQL statement in a migration: {statement[:80]!r}")


def _append_only(db: Database, table: str, unique_keys: list[str]) -> None:
    """Make `table` append-only in the database itself, whoever connects.

    UPDATE and DELETE are refused. INSERT OR REPLACE would delete the old row first, and its
    DELETE trigger only fires when recursive_triggers is on (not the default for a plain sqlite3
    connection), so an insert that collides with any unique key (`unique_keys`: comma-separated
    column groups, the rowid `id` included) is refused before it happens.
    """
    message = f"{table} are append-only: record a correction as a new row"
    collides = " OR ".join(
        "(" + " AND ".join(f"{column} = NEW.{column}" for column in key.split(",")) + ")" for key in unique_keys
    )
    _run_script(  # names come from the migrations below, never from input
        db,
        f"""
        CREATE TRIGGER {table}_refuse_update BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, '{message}'); END;
        CREATE TRIGGER {table}_refuse_delete BEFORE DELETE ON {table}
        BEGIN SELECT RAISE(ABORT, '{message}'); END;
        CREATE TRIGGER {table}_refuse_replace BEFORE INSERT ON {table}
        WHEN EXISTS (SELECT 1 FROM {table} WHERE {collides})
        BEGIN SELECT RAISE(ABORT, '{message}'); END;
        """,  # noqa: S608
    )


@migration
def m001_initial_schema(db: Database) -> None:
    _run_script(
        db,
        """
        -- Project-wide settings: one JSON value per key (annotators per prompt, shuffle seed, ...).
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );

        -- Annotator guidelines, versioned; a judgement records the version its annotator saw.
        CREATE TABLE guidelines (
            version INTEGER PRIMARY KEY,
            text TEXT NOT NULL,
            created_at TEXT NOT NULL
        );

        CREATE TABLE annotators (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
            created_at TEXT NOT NULL
        );

        -- A prompt is a text, or a chat: a JSON list of {"role", "content"} messages.
        -- content_hash identifies a prompt by content, so importing the same prompt twice adds it once.
        CREATE TABLE prompts (
            id INTEGER PRIMARY KEY,
            external_id TEXT UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('text', 'chat')),
            content TEXT NOT NULL,
            content_hash TEXT NOT NULL UNIQUE,
            metadata TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL
        );

        -- A candidate answer to a prompt; `generation` holds the sampling settings as JSON and
        -- `source` where it came from (an imported file, a generation run, ...).
        CREATE TABLE answers (
            id INTEGER PRIMARY KEY,
            prompt_id INTEGER NOT NULL REFERENCES prompts(id),
            text TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            model TEXT,
            generation TEXT NOT NULL DEFAULT '{}',
            source TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (prompt_id, text_hash)
        );

        -- Which annotator should judge which prompt.
        CREATE TABLE assignments (
            prompt_id INTEGER NOT NULL REFERENCES prompts(id),
            annotator_id INTEGER NOT NULL REFERENCES annotators(id),
            assigned_at TEXT NOT NULL,
            PRIMARY KEY (prompt_id, annotator_id)
        );

        -- Append-only. A correction (or an undo, outcome 'retracted') is a new row whose
        -- `supersedes` names the uuid it replaces. tiers: JSON list of lists of answer ids, best
        -- first; strengths: JSON list between adjacent tiers; display_order: the answer ids in the
        -- order the annotator saw them; answers_hash: sha256 of those answers' texts in that order;
        -- flags: JSON object answer id -> list of flags.
        CREATE TABLE judgements (
            id INTEGER PRIMARY KEY,
            uuid TEXT NOT NULL UNIQUE,
            prompt_id INTEGER NOT NULL REFERENCES prompts(id),
            annotator_id INTEGER NOT NULL REFERENCES annotators(id),
            seq INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            seconds_spent REAL,
            outcome TEXT NOT NULL CHECK (outcome IN ('ranked', 'all_bad', 'skipped', 'retracted')),
            tiers TEXT,
            strengths TEXT,
            skip_reason TEXT,
            display_order TEXT NOT NULL,
            answers_hash TEXT NOT NULL,
            guideline_version INTEGER,
            flags TEXT NOT NULL DEFAULT '{}',
            likert INTEGER CHECK (likert BETWEEN 1 AND 7),
            comment TEXT NOT NULL DEFAULT '',
            -- Not a foreign key: a correction made on one machine may arrive (by merge) before
            -- the judgement it corrects.
            supersedes TEXT
        );
        -- seq orders one annotator's judgements as recorded on their machine; it is not unique,
        -- because judgements merged from another machine keep the numbers they were recorded with.
        CREATE INDEX judgements_by_annotator ON judgements(annotator_id, seq);
        CREATE INDEX judgements_by_prompt ON judgements(prompt_id);
        CREATE INDEX judgements_by_supersedes ON judgements(supersedes);
        CREATE INDEX judgements_by_outcome ON judgements(outcome);

        -- Every pair a judgement implies, written in the judgement's own transaction. Append-only.
        CREATE TABLE pairs (
            id INTEGER PRIMARY KEY,
            judgement_id INTEGER NOT NULL REFERENCES judgements(id),
            prompt_id INTEGER NOT NULL REFERENCES prompts(id),
            chosen_answer_id INTEGER NOT NULL REFERENCES answers(id),
            rejected_answer_id INTEGER NOT NULL REFERENCES answers(id),
            margin INTEGER NOT NULL CHECK (margin > 0),
            UNIQUE (judgement_id, chosen_answer_id, rejected_answer_id)
        );

        -- Answers a person wrote or rewrote, for supervised fine-tuning.
        CREATE TABLE demonstrations (
            id INTEGER PRIMARY KEY,
            uuid TEXT NOT NULL UNIQUE,
            prompt_id INTEGER NOT NULL REFERENCES prompts(id),
            annotator_id INTEGER NOT NULL REFERENCES annotators(id),
            text TEXT NOT NULL CHECK (length(trim(text)) > 0),
            based_on_answer_id INTEGER REFERENCES answers(id),
            created_at TEXT NOT NULL
        );

        -- A ranking in progress, saved as it changes so a crash loses nothing; one per
        -- annotator and prompt, replaced freely and deleted when the judgement is saved.
        CREATE TABLE drafts (
            annotator_id INTEGER NOT NULL REFERENCES annotators(id),
            prompt_id INTEGER NOT NULL REFERENCES prompts(id),
            state TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (annotator_id, prompt_id)
        );

        -- The judgements that count: not superseded by a later one, and not a retraction.
        CREATE VIEW current_judgements AS
            SELECT j.* FROM judgements j
            WHERE j.outcome != 'retracted'
              AND NOT EXISTS (SELECT 1 FROM judgements later WHERE later.supersedes = j.uuid);

        CREATE VIEW current_pairs AS
            SELECT p.* FROM pairs p JOIN current_judgements j ON j.id = p.judgement_id;
        """,
    )
    _append_only(db, "judgements", ["id", "uuid"])
    _append_only(db, "pairs", ["id", "judgement_id,chosen_answer_id,rejected_answer_id"])


@migration
def m002_answer_scores(db: Database) -> None:
    _run_script(
        db,
        """
        -- A reward model's score for an answer (`labeler-train score`), under the model's name, so
        -- the app can show where a model and the annotators disagree. Scores are not judgements:
        -- scoring again with the same name replaces them.
        CREATE TABLE answer_scores (
            answer_id INTEGER NOT NULL REFERENCES answers(id),
            model TEXT NOT NULL CHECK (length(trim(model)) > 0),
            score REAL NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (model, answer_id)
        );
        """,
    )


@migration
def m003_judgements_by_prompt_and_annotator(db: Database) -> None:
    _run_script(
        db,
        """
        -- The queue asks, prompt after prompt, how many annotators judged it and whether this one
        -- did: answered from this index alone, without reading the judgement rows (a new annotator's
        -- first prompt on a 100,000-prompt project: 0.5 s -> 0.2 s). It replaces the index on
        -- prompt_id alone, which it covers.
        DROP INDEX judgements_by_prompt;
        CREATE INDEX judgements_by_prompt_and_annotator ON judgements(prompt_id, annotator_id);
        """,
    )


@migration
def m004_stated_strengths(db: Database) -> None:
    _run_script(
        db,
        """
        -- Which strengths were stated (a person pressed a strength key, a file gave a strength or a
        -- margin) and which only took the default, "better" (2): a margin nobody stated must not be
        -- trained on, nor exported as if stated. `strengths` and `margin` keep their values, the
        -- default filled in, so readers written before this migration read what they always read.
        --
        -- judgements.stated_strengths: JSON list aligned with `strengths`, each item the stated
        -- strength (0 or more: an imported pair may state a margin of 0) or null where none was
        -- stated, and NULL for a judgement without a ranking. pairs.stated_margin: the sum of the
        -- stated strengths between the pair's tiers, NULL when none of them was stated.
        --
        -- Judgements and pairs are append-only, so the rows recorded before this migration keep
        -- NULL in both columns and are decided when read, in one place
        -- (labeler.domain.recorded_stated_strengths): a strength other than 2 can only have come
        -- from a person or a file, so it was stated. A 2 may have been stated or filled in, and
        -- counts as not stated.
        ALTER TABLE judgements ADD COLUMN stated_strengths TEXT;
        ALTER TABLE pairs ADD COLUMN stated_margin INTEGER CHECK (stated_margin >= 0);
        """,
    )


@migration
def m005_rounds(db: Database) -> None:
    _run_script(
        db,
        """
        -- A round is one set of candidate answers for a prompt: imported answers are round 1, and each
        -- `labeler-train generate` run adds a round to the prompts it answers (labeler.store.rounds).
        -- A judgement records the round of the task it judged: the latest round among the answers it
        -- was shown (a task shows its round's answers and the previous round's best one). Every row
        -- written before rounds existed is round 1, which is what the defaults say; judgements are
        -- append-only and are not rewritten.
        ALTER TABLE answers ADD COLUMN round INTEGER NOT NULL DEFAULT 1 CHECK (round >= 1);
        ALTER TABLE judgements ADD COLUMN round INTEGER NOT NULL DEFAULT 1 CHECK (round >= 1);
        -- The queue asks, prompt after prompt, for its latest round and for who judged that round.
        CREATE INDEX answers_by_prompt_and_round ON answers(prompt_id, round);
        DROP INDEX judgements_by_prompt_and_annotator;
        CREATE INDEX judgements_by_prompt_round_and_annotator ON judgements(prompt_id, round, annotator_id);
        """,
    )


@migration
def m006_judgements_by_prompt_annotator_and_round(db: Database) -> None:
    _run_script(
        db,
        """
        -- m005's index put the round before the annotator, so "has this annotator judged this prompt"
        -- (the Browse tab's annotator filter) could not use it, and SQLite walked all of the annotator's
        -- judgements for every prompt instead: minutes on a 100,000-prompt project. With the annotator
        -- second, it answers that, and the queue's (prompt, annotator, round) and (prompt, round) too:
        -- a prompt has few judgement rows.
        DROP INDEX judgements_by_prompt_round_and_annotator;
        CREATE INDEX judgements_by_prompt_annotator_and_round ON judgements(prompt_id, annotator_id, round);
        """,
    )
