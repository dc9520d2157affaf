"""SQLite's advice for database files from untrusted sources (sqlite.org, "Defense Against The Dark
Arts"), applied to every connection the store opens: a project file may come from anyone (a merge
pack received by mail, a file picked in the Open dialog).

- `PRAGMA trusted_schema=OFF`: the schema's views, triggers and CHECK constraints cannot call
  functions with side effects.
- Defensive mode (SQLITE_DBCONFIG_DEFENSIVE): no writes to the schema or to raw pages, whatever SQL
  runs on the connection.
- For files only read (`check_foreign_file`): cell_size_check, a quick_check before any row is read,
  and the schema compared with the one our migrations make, so a `judgements` that is a view, or a
  trigger of someone else's, is refused before it runs.
- `limit_value_size`: no single value bigger than the caller allows (a 100 MB cell in a pack).
"""

from __future__ import annotations

import ctypes
import functools
import sqlite3
import sys
from pathlib import Path

from labeler.migrations import MIGRATIONS_TABLE, apply_migrations
from labeler.store.errors import CorruptProjectError, NotAProjectError, StoreError

SQLITE_DBCONFIG_DEFENSIVE = 1010  # sqlite3.h; Python 3.12+ names it sqlite3.SQLITE_DBCONFIG_DEFENSIVE


def distrust_schema(conn: sqlite3.Connection) -> None:
    """Turn on what protects a connection from a hostile schema; see the module's docstring."""
    conn.execute("PRAGMA trusted_schema=OFF")
    set_defensive(conn)


def set_defensive(conn: sqlite3.Connection) -> None:
    """Defensive mode on `conn`.

    Python 3.12 has Connection.setconfig for this. Python 3.11 (which we support) has no way to
    reach sqlite3_db_config, so we call it with ctypes in the SQLite library that CPython's own
    _sqlite3 module is linked with (the very library, never a second copy: two SQLite libraries in
    one process do not share their bookkeeping of POSIX locks, and closing a connection of one
    drops the other's locks). The connection's `sqlite3 *` is the first field after the object
    header in CPython 3.11's pysqlite_Connection (Modules/_sqlite/connection.h), a layout fixed for
    the 3.11 series. The setting is read back, so a mismatch fails loudly instead of silently.
    """
    if hasattr(conn, "setconfig"):  # Python 3.12 and later
        conn.setconfig(SQLITE_DBCONFIG_DEFENSIVE, True)
        return
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        raise StoreError(f"cannot turn on SQLite's defensive mode on {sys.implementation.name} {sys.version}")
    handle = ctypes.c_void_p.from_address(id(conn) + object.__basicsize__)
    state = ctypes.c_int(-1)
    status = _sqlite_library().sqlite3_db_config(
        handle, ctypes.c_int(SQLITE_DBCONFIG_DEFENSIVE), ctypes.c_int(1), ctypes.byref(state)
    )
    if status != sqlite3.SQLITE_OK or state.value != 1:
        raise StoreError(f"cannot turn on SQLite's defensive mode (status {status}, state {state.value})")


@functools.cache
def _sqlite_library() -> ctypes.CDLL:
    import _sqlite3  # the C module behind sqlite3: looking symbols up in it finds the library it links

    library = ctypes.CDLL(_sqlite3.__file__)
    library.sqlite3_db_config.restype = ctypes.c_int
    return library


def limit_value_size(conn: sqlite3.Connection, max_bytes: int) -> None:
    """Reading a string or blob longer than `max_bytes` fails with SQLITE_TOOBIG instead of allocating it."""
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_bytes)


def check_foreign_file(conn: sqlite3.Connection, path: Path) -> None:
    """Before any row of a file only read is used: its pages are sound and its schema is ours.

    Call after the migrations check (a file of an older or newer version is refused with its own
    message). The quick_check reads every page once: about a second per GB.
    """
    conn.execute("PRAGMA cell_size_check=ON")
    found = [row[0] for row in conn.execute("PRAGMA quick_check(3)")]
    if found != ["ok"]:
        # Said in one line: SQLite's report spans several ("*** in database main ***\nPage 16: ...").
        problems = [line for text in found for line in text.splitlines() if line and not line.startswith("***")]
        raise CorruptProjectError(f"{path}: the project file is damaged: {'; '.join(problems)}")
    if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
        raise CorruptProjectError(f"{path}: the project file is damaged: rows refer to rows it does not have")
    found = _schema_of(conn)
    expected = _our_schema()
    # The plainest difference first: a table that is a view also changes the views built on it.
    for name, (kind, _, _) in sorted(expected.items()):
        if name not in found:
            raise NotAProjectError(f"{path}: not a labeler project as this version makes them ({name} is missing)")
        if found[name][0] != kind:
            raise NotAProjectError(f"{path}: {name} is a {found[name][0]} here, where a project has a {kind}")
    for name, entry in sorted(expected.items()):
        if found[name] != entry:
            raise NotAProjectError(f"{path}: the {entry[0]} {name} is not defined as a project defines it")
    extra = sorted(f"{kind} {name}" for name, (kind, _, _) in found.items() if name not in expected)
    if extra:
        raise NotAProjectError(f"{path}: holds what no labeler project has: {', '.join(extra)}")


def _schema_of(conn: sqlite3.Connection) -> dict[str, tuple[str, str, str | None]]:
    """name -> (type, table, sql) of every object but SQLite's own (sqlite_*: automatic indexes,
    statistics) and the migrations table, whose SQL is sqlite-utils' (checked to be a table)."""
    schema = {}
    for kind, name, table, sql in conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"):
        if name.startswith("sqlite_"):
            continue
        schema[name] = (kind, table, None if name == MIGRATIONS_TABLE else sql)
    return schema


@functools.cache
def _our_schema() -> dict[str, tuple[str, str, str | None]]:
    """The schema our migrations make, read from a new database in memory (made once per process:
    sqlite-utils takes half a second to import, so only files read as foreign pay for it)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute("BEGIN")
        apply_migrations(conn)
        conn.execute("COMMIT")
        return _schema_of(conn)
    finally:
        conn.close()
