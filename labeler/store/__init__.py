"""The one door to a project file (SQLite), for the app, the CLI, the trainer and the tests.

Rules kept here, so no caller has to remember them:
  - `open_store` checks the file before touching it (not SQLite, not a project, corrupt, written by
    a newer version: a clear StoreError and the file unchanged), then turns on WAL,
    synchronous=FULL, foreign keys and a busy timeout, and applies pending migrations.
  - Every write is one transaction opened with BEGIN IMMEDIATE and retried as a whole while the
    database is busy. (A plain BEGIN takes the write lock only at the first write, and a writer that
    then meets another one fails at once with "database is locked" instead of waiting.)
  - Judgements are append-only; their pairs are written in the judgement's own transaction.
  - One Store per thread and per process: sqlite3 connections do not cross threads.
"""

from labeler.store.errors import (
    CorruptProjectError,
    NewerSchemaError,
    NotAProjectError,
    ProjectNotFoundError,
    StoreError,
    WriteFailedError,
)
from labeler.store.opening import DEFAULT_BUSY_TIMEOUT_S, create_project, open_read_only, open_store
from labeler.store.project import Store
from labeler.store.records import (
    Answer,
    NewAnswer,
    NewRound,
    ProjectStats,
    Prompt,
    RecordedJudgement,
    answers_hash,
    content_hash,
    text_hash,
    utc_now,
)

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_S",
    "Answer",
    "CorruptProjectError",
    "NewAnswer",
    "NewRound",
    "NewerSchemaError",
    "NotAProjectError",
    "ProjectNotFoundError",
    "ProjectStats",
    "Prompt",
    "RecordedJudgement",
    "Store",
    "StoreError",
    "WriteFailedError",
    "answers_hash",
    "content_hash",
    "create_project",
    "open_read_only",
    "open_store",
    "text_hash",
    "utc_now",
]
