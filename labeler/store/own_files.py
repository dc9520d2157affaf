"""The project files this process has open through SQLite, so that nothing else of ours opens them.

POSIX locks belong to a process and a file, not to a descriptor: closing *any* descriptor of a file
drops every lock the process holds on it, SQLite's included (sqlite.org, "How To Corrupt An SQLite
Database File", 2.2). Had the importer read the open project (a user who picks it, or its -wal, in
the Import dialog), or a trainer read it as its --prompts file, the close at the end of that read
would have let another process delete the write-ahead log under this one (issue 14). So every file
our readers open and every file our writers replace is first checked here, by stat (which takes no
descriptor), against the project files open in this process and the files SQLite keeps beside them.

This is process-wide state on purpose: the locks it protects are process-wide too.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

from labeler.store.errors import StoreError

# Files SQLite keeps beside a project while it is in use; it locks the project and its -shm.
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")

_lock = threading.Lock()
_open_projects: Counter[Path] = Counter()  # project path -> stores open on it in this process


def opened(project: Path) -> None:
    with _lock:
        _open_projects[Path(project).absolute()] += 1


def closed(project: Path) -> None:
    with _lock:
        key = Path(project).absolute()
        _open_projects[key] -= 1
        if _open_projects[key] <= 0:
            del _open_projects[key]


def refuse_open_project_file(path: str | Path) -> None:
    """Raise StoreError if `path` is a project open in this process, or one of the files beside it."""
    with _lock:
        projects = list(_open_projects)
    for project in projects:
        for own in (project, *(Path(f"{project}{suffix}") for suffix in COMPANION_SUFFIXES)):
            if _same_file(Path(path), own):
                raise StoreError(
                    f"{path}: is {'the project' if own == project else 'a file SQLite keeps beside the project'} "
                    f"{project.name}, open here; it is read and written only through SQLite: choose another file"
                )


def _same_file(path: Path, own: Path) -> bool:
    """The same file on disk (stat only), or, for a file not there yet, the same name."""
    try:
        return os.path.samefile(path, own)
    except OSError:
        return path.absolute() == own.absolute() or os.path.realpath(path) == os.path.realpath(own)
