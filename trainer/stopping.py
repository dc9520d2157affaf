"""A run asked to stop (SIGTERM: the app's Cancel, a batch system's time limit) ends resumable.

Inside a loop that checks `requested()` after each step (reward --loss grouped, ppo), the step under way
finishes, a checkpoint is written, and RunStopped ends the run: `--resume` continues from that very step,
not from the last scheduled checkpoint (every 500 steps by default). Anywhere else (loading, a TRL loop,
scoring) RunStopped is raised at once; what the run wrote stays as a kill would leave it (its folder
unfinished, its newest complete checkpoint kept). Standard library only.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

EXIT_STOPPED = 143  # 128 + SIGTERM, as a shell reports a process ended by it


class RunStopped(Exception):
    """The run ended on request; `step` is the step its last checkpoint holds (None: stopped elsewhere)."""

    def __init__(self, step: int | None = None):
        super().__init__(step)
        self.step = step


_requested = False
_checked_at_step_ends = False


def listen() -> None:
    """From now on SIGTERM stops the run (in the main thread: Python runs signal handlers there)."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: object) -> None:
    global _requested
    _requested = True
    if not _checked_at_step_ends:
        raise RunStopped()


def requested() -> bool:
    return _requested


@contextlib.contextmanager
def checked_at_step_ends() -> Iterator[None]:
    """Within: SIGTERM only sets `requested()`, which the loop checks after each step."""
    global _checked_at_step_ends
    _checked_at_step_ends = True
    try:
        if _requested:  # asked before the loop began
            raise RunStopped()
        yield
    finally:
        _checked_at_step_ends = False
