"""One `labeler-train … --events` child process, its JSON-lines events read as they come.

The trainer runs in a QProcess, never in the window's interpreter: a crash, a kill or 10 GB of tensors end
the child, not the window. Each stdout line is one event (trainer/events.py); a line that is not JSON is
ignored (a library printing to stdout must not stop the run being followed). stderr keeps its last lines,
so a child that dies without an "error" event (killed, out of memory, a missing package) still tells why.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

# A cancelled child finishes its step and writes a checkpoint (trainer/stopping.py): a PPO step on SmolLM2
# takes up to 90 s on a laptop. One that has not ended after this is killed; Cancel again kills it at once.
KILL_AFTER_MS = 300_000
STDERR_LINES_KEPT = 20


@dataclass(frozen=True)
class RunEnd:
    outcome: str  # "done", "failed" or "cancelled"
    message: str  # the error line (failed), or "" (done, cancelled)
    result: dict = field(default_factory=dict)  # the "done" event's fields
    last_checkpoint: int | None = None  # the step of the last "checkpoint" event: where --resume continues


class TrainProcess(QObject):
    event = Signal(dict)  # every event line but "done" and "error", as it arrives
    ended = Signal(object)  # a RunEnd, once

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.process = QProcess(self)
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._failed_to_start)
        self._partial = b""
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES_KEPT)
        self._done: dict | None = None
        self._error: str | None = None
        self._last_checkpoint: int | None = None
        self._cancelled = False
        self._reported = False

    def start(self, command: list[str]) -> None:
        self.process.start(command[0], command[1:])

    def is_running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """SIGTERM: the trainer ends its step, checkpoints and stops, its folder kept for --resume. SIGKILL when
        asked a second time, or when it has not ended after KILL_AFTER_MS."""
        if not self.is_running():
            return
        if self._cancelled:
            self.process.kill()
            return
        self._cancelled = True
        self.process.terminate()
        QTimer.singleShot(KILL_AFTER_MS, self._kill_if_running)

    def is_cancelled(self) -> bool:
        return self._cancelled

    def kill_and_wait(self, msecs: int = 3000) -> None:
        """For the window closing: the child must not outlive it."""
        if self.is_running():
            self._cancelled = True
            self.process.kill()
            self.process.waitForFinished(msecs)

    def _kill_if_running(self) -> None:
        if self.is_running():
            self.process.kill()

    def _read_stdout(self) -> None:
        data = self._partial + bytes(self.process.readAllStandardOutput())
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            self._read_event(line)

    def _read_event(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        kind = event.get("event")
        if kind == "done":
            self._done = event
        elif kind == "error":
            self._error = str(event.get("message", ""))
        else:
            if kind == "checkpoint" and isinstance(event.get("step"), int):
                self._last_checkpoint = event["step"]
            self.event.emit(event)

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError()).decode("utf-8", errors="replace")
        self._stderr.extend(line.strip() for line in text.splitlines() if line.strip())

    def _finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        if self._partial:
            self._read_event(self._partial)
            self._partial = b""
        self._read_stderr()
        if self._done is not None and exit_code == 0 and exit_status == QProcess.ExitStatus.NormalExit:
            result = {key: value for key, value in self._done.items() if key != "event"}
            self._report(RunEnd("done", "", result, self._last_checkpoint))
        elif self._cancelled:
            self._report(RunEnd("cancelled", "", last_checkpoint=self._last_checkpoint))
        else:
            self._report(RunEnd("failed", self._why(exit_code, exit_status), last_checkpoint=self._last_checkpoint))

    def _why(self, exit_code: int, exit_status: QProcess.ExitStatus) -> str:
        """The error event's message, else stderr's last line, else how the process ended."""
        if self._error:
            return self._error
        if self._stderr:
            return self._stderr[-1].removeprefix("labeler-train: error: ")
        if exit_status == QProcess.ExitStatus.CrashExit:
            return "labeler-train was killed (by the system, or out of memory?)"
        return f"labeler-train stopped with exit code {exit_code}"

    def _failed_to_start(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            program = self.process.program()
            self._report(RunEnd("failed", f"could not start {program}: {self.process.errorString()}"))

    def _report(self, end: RunEnd) -> None:
        if not self._reported:
            self._reported = True
            self.ended.emit(end)
