"""Snapshots: a consistent copy of a project for another machine or for training."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from labeler.store.errors import StoreError
from labeler.store.project import Store
from labeler.store.records import utc_now


def snapshot(store: Store, out: Path) -> Path:
    """A consistent copy of the project at `out`, taken while others may keep writing.

    VACUUM INTO reads one snapshot of the database, so the copy is whole even mid-write, which a
    file copy of a live WAL database is not. Written under a temporary name and renamed, so a
    failure (a full disk) leaves no half copy.
    """
    out = Path(out)
    if out.exists():
        raise StoreError(f"{out}: already exists; choose a new file name")
    if not out.parent.is_dir():
        raise StoreError(f"{out}: the folder {out.parent} does not exist")
    partial = out.with_name(f".{out.name}.partial-{utc_now()}")
    try:
        store.conn.execute("VACUUM INTO ?", [str(partial)])
        partial.replace(out)
    except sqlite3.Error as error:
        raise StoreError(f"{out}: cannot write the snapshot: {error}") from None
    finally:
        partial.unlink(missing_ok=True)
    return out
