"""The time an annotator spends on a task: counted only while the window is active. No Qt: the clock is a
plain function, so the tests set the time instead of waiting for it."""

from __future__ import annotations

import time
from collections.abc import Callable


class Stopwatch:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.before = 0.0  # seconds counted before the last pause
        self.started: float | None = None  # when it last started running; None while paused

    def restart(self) -> None:
        """From zero, running (a new task is shown)."""
        self.before, self.started = 0.0, self.clock()

    def pause(self) -> None:
        if self.started is not None:
            self.before += self.clock() - self.started
            self.started = None

    def resume(self) -> None:
        if self.started is None:
            self.started = self.clock()

    def seconds(self) -> float:
        return self.before + (self.clock() - self.started if self.started is not None else 0.0)
