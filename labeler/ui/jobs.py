"""Seconds of work (an import, an export, a snapshot) off the GUI thread.

A job runs on Qt's global thread pool, opens its own store (sqlite3 connections do not cross
threads) and touches no widget: it reports back through a signal, delivered on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from labeler.store import Store, open_store


class JobSignals(QObject):
    finished = Signal(str)  # what was done, for the status bar
    failed = Signal(str)  # why it could not be done, in words


class StoreJob(QRunnable):
    """Run `work(store)` with a store of its own on `project`; `work` returns a summary line."""

    def __init__(self, project: Path, work: Callable[[Store], str]):
        super().__init__()
        self.project = project
        self.work = work
        self.signals = JobSignals()

    def run(self) -> None:
        try:
            with open_store(self.project) as store:
                summary = self.work(store)
        except Exception as error:  # reported in the window; a job must never take it down
            self.signals.failed.emit(str(error) or type(error).__name__)
            return
        self.signals.finished.emit(summary)


def start(job: StoreJob) -> None:
    QThreadPool.globalInstance().start(job)
