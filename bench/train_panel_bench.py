"""Train panel benchmark: the GUI thread's time per event while a run streams events, the annotator's window open.

    python bench/train_panel_bench.py [--seconds 60] [--rate 20]

The real window (offscreen unless QT_QPA_PLATFORM says otherwise) with the Train panel shown starts a
reward run through the panel's own Start; the child is a fake `labeler-train` (a Python script, no torch)
that prints a "start" event and then `--rate` step events a second (loss, accuracy, eta) for `--seconds`,
as the trainer's --events protocol does. Timed on the GUI thread:

- per event: reading stdout, parsing the line, the progress bar and the curves' points (the panel's
  slots), for each chunk read divided by the events in it; goal under 16 ms (one frame)
- curve redraw: the curves' timer (every 250 ms) setting the plots' data
- event-loop stall: how late a 5 ms heartbeat timer fires, the longest the window was unresponsive to
  anything (input, paints of the progress bar and curves included)

Prints a markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from labeler.store import NewAnswer, open_store
from labeler.ui import train_panel
from labeler.ui.main_window import MainWindow
from labeler.ui.train_curves import TrainCurves
from labeler.ui.train_process import TrainProcess

HEARTBEAT_MS = 5
FAKE_TRAINER = """
import json, sys, time
seconds, rate = float(sys.argv[1]), float(sys.argv[2])
total = int(seconds * rate)
print(json.dumps({"event": "start", "total_steps": total, "loss": "grouped", "resumed_at": 0}), flush=True)
started = time.monotonic()
for step in range(1, total + 1):
    time.sleep(max(0.0, started + step / rate - time.monotonic()))
    eta = (time.monotonic() - started) / step * (total - step)
    print(json.dumps({"event": "step", "step": step, "total_steps": total, "loss": 0.7 / step ** 0.3,
                      "accuracy": min(1.0, 0.5 + step / total), "learning_rate": 6e-5, "eta_seconds": eta}),
          flush=True)
print(json.dumps({"event": "done", "steps": total, "eval_accuracy": 0.9}), flush=True)
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(samples: list[float], call: Callable) -> Callable:
    """`call` wrapped so each call's wall time (ms) lands in `samples`."""

    def wrapper(*args):
        clock = QElapsedTimer()
        clock.start()
        result = call(*args)
        samples.append(clock.nsecsElapsed() / 1e6)
        return result

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the fake run streams")
    parser.add_argument("--rate", type=float, default=20.0, help="step events a second")
    args = parser.parse_args()

    app = QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder) / "bench.db"
        with open_store(project, create=True) as store:
            for index in range(20):
                store.add_prompt(f"prompt {index}", [NewAnswer(f"answer {a} to {index}") for a in range(4)])
        script = Path(folder) / "fake_trainer.py"
        script.write_text(FAKE_TRAINER)
        # The panel starts the fake instead of labeler-train; everything else is the real window's.
        train_panel.trainer_program = lambda: [sys.executable, str(script), str(args.seconds), str(args.rate)]

        per_event: list[float] = []
        redraws: list[float] = []
        stalls: list[float] = []
        lines_in_chunk = {"n": 0}
        original_read = TrainProcess._read_stdout
        original_event = TrainProcess._read_event

        def counting_read_event(self, line):
            lines_in_chunk["n"] += 1
            return original_event(self, line)

        def read_stdout(self):
            lines_in_chunk["n"] = 0
            clock = QElapsedTimer()
            clock.start()
            original_read(self)
            if lines_in_chunk["n"]:
                per_event.extend([clock.nsecsElapsed() / 1e6 / lines_in_chunk["n"]] * lines_in_chunk["n"])

        TrainProcess._read_event = counting_read_event
        TrainProcess._read_stdout = read_stdout
        TrainCurves.redraw = timed(redraws, TrainCurves.redraw)

        window = MainWindow(
            open_store(project), "bench", QSettings(str(Path(folder) / "s.ini"), QSettings.Format.IniFormat)
        )
        window.show()
        window.show_train("reward")
        last = {"at": time.perf_counter()}

        def heartbeat():
            now = time.perf_counter()
            stalls.append(max(0.0, (now - last["at"]) * 1000 - HEARTBEAT_MS))
            last["at"] = now

        beat = QTimer()
        beat.setInterval(HEARTBEAT_MS)
        beat.timeout.connect(heartbeat)
        ended = []
        window.train_panel.run_ended.connect(ended.append)
        window.train_panel.start()

        def first_event(_event):
            # The window's first paints and the child's start are not what is measured: the stream is.
            if not beat.isActive():
                last["at"] = time.perf_counter()
                beat.start()

        window.train_panel.run.event.connect(first_event)
        started = time.monotonic()
        while not ended and time.monotonic() - started < args.seconds + 30:
            app.processEvents()
            time.sleep(0.001)
        beat.stop()
        outcome = ended[0].outcome if ended else "did not end"
        window.close()

    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.platform()}, {os.cpu_count()} cores, Qt platform "
        f"{os.environ['QT_QPA_PLATFORM']}, run {outcome}, {len(per_event)} events at {args.rate:g}/s"
    )
    print()
    print("| GUI thread, ms | count | median | p95 | max |")
    print("|---|---:|---:|---:|---:|")
    for name, values in (("per event (read, parse, bar, points)", per_event), ("curve redraw", redraws),
                         ("event-loop stall (5 ms heartbeat)", stalls)):  # fmt: skip
        if values:
            print(f"| {name} | {len(values):,} | {statistics.median(values):.3f} | {percentile(values, 0.95):.3f} | "
                  f"{max(values):.3f} |")  # fmt: skip
        else:
            print(f"| {name} | 0 | – | – | – |")


if __name__ == "__main__":
    main()
