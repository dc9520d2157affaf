"""How a run tells its progress: JSON lines on stdout for the desktop app, or a progress bar for a person.

With `--events`, every line on stdout is one JSON object with an "event" field:
  {"event": "start", "total_steps": ..., ...}           once, with what the run will do
  {"event": "step", "step", "total_steps", "loss", "accuracy", "learning_rate", "eta_seconds"}
  {"event": "eval", "step", ...metrics}                  after an evaluation
  {"event": "checkpoint", "step", "path"}
  {"event": "done", ...metrics}                          last, on success
  {"event": "error", "message"}                          last, on failure (the CLI writes it)
  {"event": "stopped", "step", "message"}                last, when SIGTERM stopped the run (step: where
                                                         --resume continues; null if not at a step's end)
Without it, a tqdm bar on stderr when stderr is a terminal; otherwise (a log file, a CI job, nohup) a
plain line on stderr at most every LOG_EVERY_S seconds and at the last step, so a long run is never silent.
Under `accelerate launch` only the main process reports. Standard library only (tqdm when a bar is drawn):
the CLI writes its "done" and "error" lines with emit_event too.
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any, TextIO

LOG_EVERY_S = 5.0  # seconds between two plain progress lines when stderr is not a terminal


class Progress:
    """Reports a run of `total_steps` steps; `step()` after each optimiser step, `emit()` for the rest."""

    def __init__(
        self, total_steps: int, events: bool, description: str, enabled: bool = True, out: TextIO | None = None
    ):
        # Made just before the first step: the eta is extrapolated from the time since.
        self.total_steps = total_steps
        self.events = events and enabled
        self._out = out or sys.stdout
        self._started = time.monotonic()
        self._first_step: int | None = None
        self._bar = None
        self._description = description
        self._lines = enabled and not events and not sys.stderr.isatty()
        self._last_line = -math.inf
        if enabled and not events and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total_steps, desc=description, unit="step", dynamic_ncols=True)

    def set_total(self, total_steps: int) -> None:
        """For a run whose length is known only once its data loader exists."""
        self.total_steps = total_steps
        if self._bar is not None:
            self._bar.total = total_steps
            self._bar.refresh()

    def emit(self, event: str, **fields: Any) -> None:
        if self.events:
            emit_event(event, out=self._out, **fields)

    def step(self, step: int, **fields: Any) -> None:
        """After optimiser step number `step` (1-based); the eta extrapolates the steps of this run."""
        if self._first_step is None:
            self._first_step = step  # a resumed run: the steps before it were done by an earlier process
        done_here = step - self._first_step + 1
        eta = (time.monotonic() - self._started) / done_here * (self.total_steps - step)
        self.emit("step", step=step, total_steps=self.total_steps, eta_seconds=eta, **fields)
        if self._bar is not None:
            self._bar.n = step
            self._bar.set_postfix({key: f"{value:.4g}" for key, value in fields.items() if _is_number(value)})
        now = time.monotonic()
        if self._lines and (now - self._last_line >= LOG_EVERY_S or step >= self.total_steps):
            self._last_line = now
            numbers = "".join(f", {key} {value:.4g}" for key, value in fields.items() if _is_number(value))
            print(
                f"{self._description}: step {step:,}/{self.total_steps:,}{numbers}, "
                f"{_duration(now - self._started)} so far, about {_duration(eta)} left",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def emit_event(event: str, *, out: TextIO | None = None, **fields: Any) -> None:
    """Write one event line (the schema above): the only place the protocol is written."""
    line = json.dumps({"event": event, **{key: _plain(value) for key, value in fields.items()}})
    print(line, file=out or sys.stdout, flush=True)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    # JSON has no NaN or Infinity: a reader in another language would choke on Python's extension.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
