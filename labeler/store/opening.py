"""Opening a project file: check it before touching it, then set it up for durable writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from labeler.migrations import MIGRATION_SET, MIGRATIONS_TABLE, apply_migrations, known_migration_names
from labeler.store.errors import (
    CorruptProjectError,
    NewerSchemaError,
    NotAProjectError,
    ProjectNotFoundError,
    StoreError,
)
from labeler.store.filesystems import network_file_system
from labeler.store.hardening import check_foreign_file, distrust_schema
from labeler.store.project import Store
from labeler.store.queue import ANNOTATORS_PER_PROMPT

DEFAULT_BUSY_TIMEOUT_S = 10.0


def create_project(path: str | Path, guidelines: str, *, annotators_per_prompt: int = 1) -> Store:
    """A new project file at `path` (refused if a non-empty file is there) with its guidelines and how many
    annotators judge each prompt; returned open. The one way a project is made: CLI, app and demo."""
    path = Path(path)
    if annotators_per_prompt < 1:
        raise StoreError("--annotators-per-prompt must be at least 1")
    if path.exists() and path.stat().st_size > 0:
        raise StoreError(f"{path}: already exists; choose a new file name")
    store = open_store(path, create=True)
    try:
        store.set_setting(ANNOTATORS_PER_PROMPT, annotators_per_prompt)
        store.add_guidelines(guidelines)
    except BaseException:
        store.close()
        raise
    return store


def open_store(path: str | Path, *, create: bool = False, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Store:
    """Open the project file at `path` (with `create`, make a new one if there is none)."""
    path = Path(path)
    _check_path(path, create)
    network = network_file_system(path.parent if create and not path.exists() else path)
    if network:
        raise StoreError(
            f"{path}: is on a network file system ({network}), where SQLite cannot keep judgements safe "
            "(its write-ahead log needs every program using the file on one computer); copy the project "
            "to a local disk to label or train on it (`labeler merge` can still read it from there)"
        )
    conn = _connect(path, "rwc" if create else "rw", busy_timeout_s)
    with _closed_on_error(conn, path):
        distrust_schema(conn)
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
    """Open a project file only to read it (a pack to merge, a trainer's snapshot): nothing on disk
    is changed, and the file is treated as untrusted (see hardening.py): damaged pages or a schema
    that is not ours are refused before any row is read.

    Opened immutable (no locks, no -wal or -shm files made beside it) unless a file beside it
    says the project is not all in the file: a -wal file holds part of its content, and a -journal
    file means a bulk write (an import) stopped midway and must be rolled back first; an immutable
    open would see neither. An immutable read of a file that someone writes meanwhile can return
    torn pages, so the file's identity is taken before and compared when the store is closed
    (_ImmutableStore): what was read from a file that changed is refused.
    """
    path = Path(path)
    _check_path(path, create=False)
    before = _fingerprint(path)
    complete = not before.wal and not before.journal
    flags = "mode=ro&immutable=1" if complete else "mode=ro"
    conn = _connect(path, flags, busy_timeout_s=0)
    with _closed_on_error(conn, path), _rollback_needed_is_explained(path):
        distrust_schema(conn)
        _check_schema(conn, path, create=False)
        if _pending_migrations(conn):
            raise StoreError(
                f"{path}: written by an older version of labeler; open it once with this version "
                "(e.g. `labeler stats`) to bring it up to date"
            )
        conn.execute("PRAGMA query_only=ON")
        check_foreign_file(conn, path)
    if complete:
        return _ImmutableStore(path, conn, before)
    return Store(path, conn, busy_timeout_s=0)


def _connect(path: Path, flags: str, busy_timeout_s: float) -> sqlite3.Connection:
    """A connection to `path`, opened with the URI `flags` ("rw": never creates the file).

    Nothing of ours reads the project file except through SQLite. Closing any descriptor of a file
    drops every POSIX lock the process holds on it, SQLite's included (sqlite.org, "How To Corrupt
    An SQLite Database File", 2.2): a header check that opened and closed the file while the app
    held its project open made another process believe it was the last one using the file, so it
    checkpointed and deleted the write-ahead log under the app, and the app's later judgements
    were lost (issue 14). So whether the file is an SQLite database at all is left to SQLite: it
    reads the header with its own descriptor at the first statement and says SQLITE_NOTADB.
    """
    if "=" not in flags:
        flags = f"mode={flags}"
    try:
        return sqlite3.connect(
            f"{path.resolve().as_uri()}?{flags}", uri=True, timeout=busy_timeout_s, isolation_level=None
        )
    except sqlite3.Error as error:
        raise StoreError(f"{path}: cannot open: {error}") from None


@dataclass(frozen=True)
class _Fingerprint:
    """What stat() says of a file and its companions (stat opens no descriptor, so takes no lock away)."""

    inode: int
    size: int
    modified_ns: int
    wal: bool
    journal: bool


def _fingerprint(path: Path) -> _Fingerprint:
    status = path.stat()
    return _Fingerprint(
        status.st_ino,
        status.st_size,
        status.st_mtime_ns,
        Path(f"{path}-wal").exists(),
        Path(f"{path}-journal").exists(),
    )


class _ImmutableStore(Store):
    """A store opened immutable: on closing, refuses what was read if the file changed meanwhile."""

    def __init__(self, path: Path, conn: sqlite3.Connection, fingerprint: _Fingerprint):
        super().__init__(path, conn, busy_timeout_s=0)
        self.fingerprint = fingerprint

    def close(self) -> None:
        super().close()
        try:
            changed = _fingerprint(self.path) != self.fingerprint
        except OSError:  # removed or renamed meanwhile
            changed = True
        if changed:
            raise StoreError(
                f"{self.path}: the file changed while it was being read (is a program using it?); "
                "nothing read from it was used: try again once it is closed"
            )


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
        if code == sqlite3.SQLITE_NOTADB:  # SQLite read the header: it is not one of its files
            raise NotAProjectError(f"{path}: not a project file (not an SQLite database)") from None
        if code == sqlite3.SQLITE_CORRUPT:
            raise CorruptProjectError(f"{path}: the project file is damaged: {error}") from None
        raise StoreError(f"{path}: cannot open the project: {error}") from None
    except BaseException:
        conn.close()
        raise


def _check_path(path: Path, create: bool) -> None:
    """What can be said of `path` without opening it (stat only: see _connect)."""
    if path.is_dir():
        raise NotAProjectError(f"{path}: is a folder, not a project file")
    if not path.exists():
        if not create:
            raise ProjectNotFoundError(f"{path}: no such project file (create one with `labeler init`)")
        if not path.parent.is_dir():
            raise StoreError(f"{path}: the folder {path.parent} does not exist")


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
