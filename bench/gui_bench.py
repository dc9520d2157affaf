"""GUI benchmark: submit -> next task painted, and start -> first task painted, on a big project.

    python bench/gui_bench.py [--project big.db] [--tasks 300] [--starts 5]

The project is store_bench's: 100,000 prompts x 4 short answers and 1,000,002 pairs (166,667
judgements: annotator-1 judged every prompt, annotator-2 the first 66,667), built in a temporary
folder unless --project names one already built (it is then built there once and reused). Two
judges are wanted per prompt, so prompts are waiting; 1,000 prompts with the demo project's real
answers (markdown, code blocks) are added to time rendering as an annotator sees it.

- submit -> painted: in process, the real window (offscreen). The window idles --read-ms first
  (an annotator reads for seconds; the window renders the next task's texts meanwhile), keys
  place every answer, then the clock runs from the Enter key event to the end of the paint pass
  that shows the next task's cards: the durable save, the next prompt, its cards and the paint.
  p95 goal 30 ms. The GUI thread's CPU time over the same span is printed too: on a machine
  shared with other work, wall time is mostly waiting for a core.
- start -> first task: `labeler gui PROJECT --annotator NAME` in a subprocess, timed from spawn to
  the end of the first paint of a task's cards (LABELER_EXIT_ON_FIRST_TASK makes the app print that
  moment and quit). Goal 1.5 s. The app must not import torch (the same line says whether it did).

Prints a markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_bench import generate_large_project, percentile

from labeler.store import NewAnswer, open_store
from labeler.store.snapshots import snapshot

REPO = Path(__file__).resolve().parent.parent
HEAVY = "annotator-1"  # 100,000 judgements, only the added demo prompts left to do
FRESH = "bench-new"  # no judgements yet
DEMO_COPIES = 1_000


def build_project(path: Path) -> float:
    """store_bench's big project, two judges wanted, plus DEMO_COPIES prompts with real answers."""
    started = time.perf_counter()
    generate_large_project(path, 100_000, 1_000_000, random.Random(0))
    rows = [json.loads(line) for line in (REPO / "resources" / "demo-prompts.jsonl").read_text().splitlines() if line]
    with open_store(path) as store:
        store.set_setting("annotators_per_prompt", 2)
        for copy in range(DEMO_COPIES):
            row = rows[copy % len(rows)]
            answers = [NewAnswer(a["text"], model=a.get("model")) for a in row["answers"]][:4]
            prompt = row["prompt"]
            marker = f"\n\n(copy {copy})"  # a prompt is stored once per content: make each copy new
            if isinstance(prompt, str):
                prompt += marker
            else:
                prompt = [*prompt[:-1], {**prompt[-1], "content": prompt[-1]["content"] + marker}]
            store.add_prompt(prompt, answers)
    return time.perf_counter() - started


def time_submits(project: Path, annotator: str, tasks: int, read_ms: int) -> dict[str, list[float]]:
    """Milliseconds from the Enter key to the next task's cards painted, for `tasks` tasks; the
    window idles `read_ms` before each (an annotator reads for seconds: the next task is rendered
    ahead then). Also the GUI thread's CPU time over the same span."""
    from PySide6.QtCore import QEvent, QObject, QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QWidget

    from labeler.ui.app import GUI_BUSY_TIMEOUT_S
    from labeler.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    folder = tempfile.mkdtemp()
    window = MainWindow(
        open_store(project, busy_timeout_s=GUI_BUSY_TIMEOUT_S),
        annotator,
        QSettings(str(Path(folder) / "settings.ini"), QSettings.Format.IniFormat),
    )
    window.resize(1280, 800)
    window.show()
    window.activateWindow()
    view = window.task_view

    class PaintWatch(QObject):
        painted = False

        def eventFilter(self, watched, event):
            painting = event.type() == QEvent.Type.Paint and isinstance(watched, QWidget)
            if painting and view.cards_box.isAncestorOf(watched):
                self.painted = True
            return False

    watch = PaintWatch()
    app.installEventFilter(watch)
    for _ in range(20):
        app.processEvents()
    results: dict[str, list[float]] = {"total": [], "enter": [], "cpu": []}
    for _ in range(tasks):
        if view.prompt is None:
            break
        reading = time.perf_counter() + read_ms / 1000  # the annotator reads; the window idles
        while time.perf_counter() < reading:
            app.processEvents()
            time.sleep(0.005)
        for number in random.sample(range(1, len(view.order) + 1), len(view.order)):
            QTest.keyClick(view, str(number))
        app.processEvents()
        watch.painted = False
        before = view.prompt.id
        cpu_started, started = time.thread_time(), time.perf_counter()
        QTest.keyClick(view, Qt.Key.Key_Return)  # save, next prompt, its cards
        entered = time.perf_counter()
        assert view.prompt is None or view.prompt.id != before, window.statusBar().currentMessage()
        while not watch.painted:
            app.processEvents()
        results["total"].append((time.perf_counter() - started) * 1000)
        results["enter"].append((entered - started) * 1000)
        results["cpu"].append((time.thread_time() - cpu_started) * 1000)
    app.removeEventFilter(watch)
    window.close()
    return results


WAIT_LIMIT_S = 60
BROWSE_FILTERS = {
    "text search (a word in 1 in 1,000 prompts)": {"text": "python"},
    "status: not judged (1,000 prompts)": {"status": "not judged"},
    "annotator: annotator-2 (66,667 prompts)": {"annotator": "annotator-2"},
    "round 1 and not judged in it (1,000 prompts)": {"round": 1, "status": "not judged"},
    "all filters cleared (101,000 prompts)": {},
}


def time_browse(project: Path, annotator: str, runs: int) -> dict[str, list[float]]:
    """Milliseconds, in the real window, from an action in the Browse tab to its result painted: the
    tab first shown (table filled, first prompt shown), each of BROWSE_FILTERS (from the filter run,
    after the typing pause, to the table and the chosen prompt painted), the table's last row
    (Ctrl+End: its rows read on demand), and Enter (the prompt opened in the Label tab, its cards painted).
    Also the GUI thread's longest stall while the filters ran on the worker."""
    from PySide6.QtCore import QEvent, QObject, QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QWidget

    from labeler.store.browsing import Status
    from labeler.ui.app import GUI_BUSY_TIMEOUT_S
    from labeler.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    results: dict[str, list[float]] = {}

    def record(label: str, started: float) -> None:
        results.setdefault(label, []).append((time.perf_counter() - started) * 1000)

    class PaintWatch(QObject):
        painted = False
        inside: QWidget | None = None

        def eventFilter(self, watched, event):
            painting = event.type() == QEvent.Type.Paint and isinstance(watched, QWidget) and self.inside is not None
            if painting and (watched is self.inside or self.inside.isAncestorOf(watched)):
                self.painted = True
            return False

    watch = PaintWatch()
    app.installEventFilter(watch)
    stalls = [0.0]  # the longest gap between event-loop turns since last cleared

    def until(done, inside: QWidget) -> None:
        """Run the event loop until `done()` and a paint inside `inside`; note the longest gap between turns."""
        watch.painted, watch.inside = False, inside
        last = started = time.perf_counter()
        while not (done() and watch.painted):
            app.processEvents()
            now = time.perf_counter()
            stalls[-1] = max(stalls[-1], (now - last) * 1000)
            last = now
            if now - started > WAIT_LIMIT_S:
                raise TimeoutError("the Browse tab did not get there")

    def searching(tab) -> None:
        """Turn the event loop while the worker searches (the window must stay responsive)."""
        last = time.perf_counter()
        while tab.searching:
            app.processEvents()
            now = time.perf_counter()
            stalls[-1] = max(stalls[-1], (now - last) * 1000)
            last = now

    def browse_once() -> None:
        window = MainWindow(
            open_store(project, busy_timeout_s=GUI_BUSY_TIMEOUT_S),
            annotator,
            QSettings(str(Path(tempfile.mkdtemp()) / "settings.ini"), QSettings.Format.IniFormat),
        )
        window.resize(1280, 800)
        window.show()
        window.activateWindow()
        for _ in range(20):
            app.processEvents()
        tab = window.browse
        started = time.perf_counter()
        window.tabs.setCurrentIndex(1)
        until(lambda: not tab.searching and tab.shown_prompt is not None, tab.table)
        record("Browse tab first shown: table filled, first prompt shown", started)
        for label, wanted in BROWSE_FILTERS.items():
            tab.search.setText(wanted.get("text", ""))
            status = wanted.get("status")
            tab.status_filter.setCurrentIndex(tab.status_filter.findData(Status(status)) if status else 0)
            tab.annotator_filter.addItem(wanted.get("annotator", ""), wanted.get("annotator"))
            tab.annotator_filter.setCurrentIndex(tab.annotator_filter.count() - 1 if "annotator" in wanted else 0)
            tab.round_filter.addItem(f"Round {wanted.get('round')}", wanted.get("round"))
            tab.round_filter.setCurrentIndex(tab.round_filter.count() - 1 if "round" in wanted else 0)
            stalls[-1] = 0.0
            started = time.perf_counter()
            tab.run_filter()
            searching(tab)
            results.setdefault("longest GUI-thread stall while the worker searched", []).append(stalls[-1])
            until(lambda: True, tab.table)
            record(f"filter: {label}", started)
        tab.table.setFocus()
        started = time.perf_counter()
        QTest.keyClick(tab.table, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
        until(lambda: tab.shown_prompt == tab.table_model.prompt_id(tab.table_model.rowCount() - 1), tab.table)
        record("Ctrl+End: the table's last row chosen and shown", started)
        started = time.perf_counter()
        QTest.keyClick(tab.table, Qt.Key.Key_Return)
        until(lambda: window.tabs.currentIndex() == 0, window.task_view.cards_box)
        record("Enter: the prompt opened in the Label tab, its cards painted", started)
        window.close()

    for _ in range(runs):
        browse_once()
    app.removeEventFilter(watch)
    return results


def time_start(project: Path, annotator: str, runs: int) -> tuple[list[float], list[float], bool]:
    """Seconds from spawning `labeler gui` to its first task painted, the CPU seconds the app had
    used by then, and whether torch was imported."""
    timings, cpu, torch = [], [], False
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            env = {
                **os.environ,
                "QT_QPA_PLATFORM": "offscreen",
                "LABELER_EXIT_ON_FIRST_TASK": "1",
                "XDG_CONFIG_HOME": home,
                "HOME": home,
            }
            command = [str(Path(sys.executable).parent / "labeler"), "gui", str(project), "--annotator", annotator]
            started = time.time()
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)
            report = json.loads(done.stdout.strip().splitlines()[-1])
            timings.append(report["first_task_painted"] - started)
            cpu.append(report["cpu_seconds"])
            torch = torch or report["torch_imported"]
    return timings, cpu, torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="build the big project here once and reuse it")
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--read-ms", type=int, default=500, help="idle time before each task (reading)")
    parser.add_argument("--browse-runs", type=int, default=5)
    parser.add_argument("--only-browse", action="store_true", help="time the Browse tab only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        project = args.project or Path(folder) / "big.db"
        built_s = None
        if not project.exists():
            built_s = build_project(project)
        copy = Path(folder) / "work.db"  # each run labels a fresh copy, so the numbers repeat
        with open_store(project) as store:
            stats = store.stats()
            snapshot(store, copy)

        demo = Path(folder) / "demo.db"
        from labeler.demo import build_demo_project

        build_demo_project(demo)
        load_before = os.getloadavg()
        starts, submits = {}, {}
        if not args.only_browse:
            starts = {
                "demo project (48 prompts), new annotator": time_start(demo, FRESH, args.starts),
                "big project, new annotator": time_start(copy, FRESH, args.starts),
                f"big project, {HEAVY} (100,000 judgements)": time_start(copy, HEAVY, args.starts),
            }
            submits = {
                "big project, new annotator, short answers": time_submits(copy, FRESH, args.tasks, args.read_ms),
                f"big project, {HEAVY} (100,000 judgements), demo answers": time_submits(
                    copy, HEAVY, args.tasks, args.read_ms
                ),
            }
        browsing = time_browse(copy, HEAVY, args.browse_runs)
        load_after = os.getloadavg()

    print(
        f"gui bench — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {platform.node()} — "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before / {load_after[0]:.2f} after"
    )
    print()
    print(
        f"project: {stats.prompts:,} prompts, {stats.answers:,} answers, {stats.judgements:,} judgements, "
        f"{stats.pairs:,} pairs" + (f" (built in {built_s:.0f} s)" if built_s else "")
    )
    print()
    print("| measure | value | goal |")
    print("|---|---|---|")
    for label, timings in submits.items():
        total, enter, cpu = timings["total"], timings["enter"], timings["cpu"]
        print(
            f"| submit → next task painted, {label}: p50 / p95 / max ({len(total)} tasks) | "
            f"{percentile(total, 0.5):.1f} / {percentile(total, 0.95):.1f} / {max(total):.1f} ms | p95 ≤ 30 ms |"
        )
        print(
            f"| … of which the Enter key (save, next prompt, cards built): p50 / p95 | "
            f"{percentile(enter, 0.5):.1f} / {percentile(enter, 0.95):.1f} ms | |"
        )
        print(
            f"| … GUI thread CPU time over the same span: p50 / p95 | "
            f"{percentile(cpu, 0.5):.1f} / {percentile(cpu, 0.95):.1f} ms | |"
        )
    torch = False
    for label, (timings, cpu, imported) in starts.items():
        torch = torch or imported
        print(
            f"| start → first task painted, {label}: median / max of {len(timings)} (CPU median) | "
            f"{statistics.median(timings):.2f} / {max(timings):.2f} s ({statistics.median(cpu):.2f} s) | ≤ 1.5 s |"
        )
    if starts:
        print(f"| torch imported by the app | {'yes' if torch else 'no'} | no |")
    for label, timings in browsing.items():
        goal = "≤ 16 ms" if "stall" in label else "≤ 500 ms" if label.startswith(("filter", "Browse")) else "≤ 100 ms"
        print(
            f"| {label}: median / max of {len(timings)} | "
            f"{statistics.median(timings):.0f} / {max(timings):.0f} ms | {goal} |"
        )


if __name__ == "__main__":
    main()
