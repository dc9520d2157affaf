"""Seconds of work (an import, an export, a snapshot, counting a big project) off the GUI thread.

A job runs on Qt's global thread pool, opens its own store (sqlite3 connections do not cross
threads) and touches no widget: it reports back through a signal, delivered on the GUI thread.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from labeler.store import Store, open_store

BACKGROUND_NICENESS = 10


def run_in_background() -> None:
    """Lower the calling (worker) thread's CPU priority, where the system allows it: a job must
    not take the CPU from the GUI thread (on Linux a thread has its own niceness)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)


class JobSignals(QObject):
    finished = Signal(object)  # what `work` returned: a summary line for the status bar, or counts
    failed = Signal(str)  # why it could not be done, in words


class StoreJob(QRunnable):
    """Run `work(store)` with a store of its own on `project`; `work` returns what `finished` carries."""

    def __init__(self, project: Path, work: Callable[[Store], object]):
        super().__init__()
        self.project = project
        self.work = work
        self.signals = JobSignals()

    def run(self) -> None:
        run_in_background()
        try:
            with open_store(self.project) as store:
                summary = self.work(store)
        except Exception as error:  # reported in the window; a job must never take it down
            self._report(self.signals.failed, str(error) or type(error).__name__)
            return
        self._report(self.signals.finished, summary)

    @staticmethod
    def _report(signal, value: object) -> None:
        with contextlib.suppress(RuntimeError):  # the app quit while this ran: no one is left to tell
            signal.emit(value)


# Every job started and not yet reported back, so its Python object (and its signals) live until its
# signal is delivered, whatever its starter keeps: a starter that replaces its job with a newer one
# (a search typed on) must not free one a worker is still running (that crashed the app).
_running: dict[int, StoreJob] = {}


def start(job: StoreJob) -> None:
    key = id(job)
    _running[key] = job
    # The key, not the job, in the slots: a slot that held the job would keep it alive for ever.
    job.signals.finished.connect(lambda _result: _running.pop(key, None))
    job.signals.failed.connect(lambda _reason: _running.pop(key, None))
    QThreadPool.globalInstance().start(job)


def start_function(work: Callable[[], None]) -> None:
    """Run `work()` on a worker thread, in the background, reporting nothing."""

    def run() -> None:
        run_in_background()
        work()

    QThreadPool.globalInstance().start(QRunnable.create(run))
