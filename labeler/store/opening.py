"""Opening a project file: check it before touching it, then set it up for durable writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labeler.migrations import MIGRATION_SET, MIGRATIONS_TABLE, apply_migrations, known_migration_names
from labeler.store.errors import (
    CorruptProjectError,
    NewerSchemaError,
    NotAProjectError,
    ProjectNotFoundError,
    StoreError,
)
from labeler.store.project import Store

SQLITE_HEADER = b"SQLite format 3\x00"
DEFAULT_BUSY_TIMEOUT_S = 10.0


def open_store(path: str | Path, *, create: bool = False, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Store:
    """Open the project file at `path` (with `create`, make a new one if there is none)."""
    path = Path(path)
    _check_file_before_opening(path, create)
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    except sqlite3.Error as error:
        raise StoreError(f"{path}: cannot open: {error}") from None
    with _closed_on_error(conn, path):
        _check_schema(conn, path, create)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"{path}: cannot use write-ahead logging here (journal mode {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        # 32 MiB of page cache instead of SQLite's 2 MiB: big imports update large indexes.
        conn.execute("PRAGMA cache_size=-32768")
        store = Store(path, conn, busy_timeout_s)
        if _pending_migrations(conn):
            store.write(apply_migrations)
    return store


def open_read_only(path: str | Path) -> Store:
    """Open a project file only to read it (a pack to merge): nothing on disk is changed.

    Opened immutable (no locks, no -wal or -shm files made beside it) unless a file beside it
    says the project is not all in the file: a -wal file holds part of its content, and a -journal
    file means a bulk write (an import) stopped midway and must be rolled back first; an immutable
    open would see neither.
    """
    path = Path(path)
    _check_file_before_opening(path, create=False)
    complete = not Path(f"{path}-wal").exists() and not Path(f"{path}-journal").exists()
    flags = "mode=ro&immutable=1" if complete else "mode=ro"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True, isolation_level=None)
    except sqlite3.Error as error:
        raise StoreError(f"{path}: cannot open: {error}") from None
    with _closed_on_error(conn, path), _rollback_needed_is_explained(path):
        _check_schema(conn, path, create=False)
        if _pending_migrations(conn):
            raise StoreError(
                f"{path}: written by an older version of labeler; open it once with this version "
                "(e.g. `labeler stats`) to bring it up to date"
            )
        conn.execute("PRAGMA query_only=ON")
    return Store(path, conn, busy_timeout_s=0)


@contextmanager
def _rollback_needed_is_explained(path: Path) -> Iterator[None]:
    """A read-only open of a file whose last write stopped midway cannot roll it back: say so."""
    try:
        yield
    except sqlite3.OperationalError as error:
        if getattr(error, "sqlite_errorname", "") == "SQLITE_READONLY_ROLLBACK":
            raise StoreError(
                f"{path}: a write to this project stopped midway (its -journal file is beside it); "
                "open it once with labeler (e.g. `labeler stats`) to undo that write, then try again"
            ) from None
        raise


@contextmanager
def _closed_on_error(conn: sqlite3.Connection, path: Path) -> Iterator[None]:
    """Close `conn` if opening fails, and say what a database error means for this file."""
    try:
        yield
    except sqlite3.DatabaseError as error:
        conn.close()
        code = (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            raise CorruptProjectError(f"{path}: the project file is damaged: {error}") from None
        raise StoreError(f"{path}: cannot open the project: {error}") from None
    except BaseException:
        conn.close()
        raise


def _check_file_before_opening(path: Path, create: bool) -> None:
    if path.is_dir():
        raise NotAProjectError(f"{path}: is a folder, not a project file")
    if not path.exists():
        if not create:
            raise ProjectNotFoundError(f"{path}: no such project file (create one with `labeler init`)")
        if not path.parent.is_dir():
            raise StoreError(f"{path}: the folder {path.parent} does not exist")
        return
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as error:
        raise StoreError(f"{path}: cannot read: {error.strerror}") from None
    if header != SQLITE_HEADER and not (create and header == b""):
        raise NotAProjectError(f"{path}: not a project file (not an SQLite database)")


def _applied_migrations(conn: sqlite3.Connection) -> set[str] | None:
    """Names of our applied migrations; None if the database has no migrations table."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if MIGRATIONS_TABLE not in tables:
        return None
    return {
        row[0]
        for row in conn.execute(
            # The table name is a constant, not input.
            f"SELECT name FROM [{MIGRATIONS_TABLE}] WHERE migration_set = ?",  # noqa: S608
            [MIGRATION_SET],
        )
    }


def _pending_migrations(conn: sqlite3.Connection) -> bool:
    return known_migration_names() - (_applied_migrations(conn) or set()) != set()


def _check_schema(conn: sqlite3.Connection, path: Path, create: bool) -> None:
    """Refuse a database that is not ours or is newer than this version, before changing it."""
    is_empty = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
    if is_empty:
        if create:
            return
        raise NotAProjectError(f"{path}: an empty database, not a project (create one with `labeler init`)")
    applied = _applied_migrations(conn)
    if not applied:
        raise NotAProjectError(f"{path}: an SQLite database, but not a labeler project")
    unknown = sorted(applied - known_migration_names())
    if unknown:
        raise NewerSchemaError(
            f"{path}: written by a newer version of labeler (schema {unknown[-1]}); upgrade labeler to open it"
        )
