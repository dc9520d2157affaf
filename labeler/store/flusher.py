"""Syncing a bulk write's file to disk while it is written (see Flusher)."""

from __future__ import annotations

import os
import threading
from pathlib import Path


class Flusher:
    """Syncs the project file to disk every `interval_s`, from a thread started by the first call,
    until `stop`: used only while a bulk write has the file to itself in rollback-journal mode.

    A bulk write leaves hundreds of MB in the page cache for its commit to sync while the disk sits
    idle; synced as it goes, the disk writes while the import still reads and inserts, and the
    commit finds little left (1.1 -> 0.2 s). This needs a file descriptor of our own on the file,
    and closing one drops every POSIX lock this process holds on it, SQLite's included ("How To
    Corrupt An SQLite Database File"); so it is closed by `stop`, called once the transaction has
    ended and before the file goes back to WAL mode: in rollback mode, between transactions,
    SQLite holds no lock on it. The thread starts at the first call, not before the work: an import
    forks its reading process before its first step, and forking with a thread running is unsafe.
    """

    def __init__(self, path: Path, interval_s: float = 0.5):
        self.path = path
        self.interval_s = interval_s
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.descriptor: int | None = None

    def __call__(self) -> None:
        if self.thread is not None or self.stopping.is_set():
            return
        try:
            self.descriptor = os.open(self.path, os.O_RDONLY)
        except OSError:  # cannot read it (an odd permission): the commit will write it all
            self.stopping.set()
            return
        self.thread = threading.Thread(target=self._sync, name="labeler-sync", daemon=True)
        self.thread.start()

    def _sync(self) -> None:
        sync = getattr(os, "fdatasync", os.fsync)  # no fdatasync on macOS
        while not self.stopping.wait(self.interval_s):
            try:
                sync(self.descriptor)
            except OSError:  # the commit's own sync will say what is wrong with the disk
                return

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join()
            os.close(self.descriptor)
