"""Screenshots of the real window for the README, taken under Xvfb.

    python tools/screenshots.py [--out docs/screenshots] [--display :99] [--scale 1] [--only NAME ...]

Needs Xvfb, xdotool and ImageMagick (`import`, `convert`), and Qt's xcb libraries (see README).
For each picture it builds a small project from the bundled demo prompts, starts the app
(`python -m labeler gui PROJECT --annotator alice`, with its settings in a temporary folder) on a
virtual screen with no window manager, types keys into it with xdotool (`windowfocus`: with no
window manager `windowactivate` fails), and saves the window as a PNG of at most 256 colours.

- label-pair-diff.png: two answers side by side, `D` showing the words that differ
- label-ranking.png: four answers mid-ranking (`2 = 4`, then `1` dragged with the mouse into
  second place, checked), a much-better step (Shift+Up) and a flag on answer 4
- keyboard-help.png: the `?` overlay, generated from the action table
- label-chat-dark.png: a multi-turn chat in a dark palette (Qt follows the desktop's scheme; under
  Xvfb there is none, so a dark palette is set the way a dark desktop would)
- label-hh-chat.png: a real 13-turn chat from the HH-RLHF dev set (--hh), as it opens: earlier turns
  folded, the last three whole, the two replies below; label-hh-pair.png: the same pair after one
  key (`2`: the other answer placed last, Enter saves)
- browse.png: the Browse tab on the demo prompts judged by two annotators, filtered by a search
- models.png: the Models tab after `labeler-train reward` (the defaults) on those judgements
- train-panel.png: the Train panel mid-run beside the task, started with its keys (Ctrl+Shift+R, the
  settings, Ctrl+Return): a real reward model fine-tuned from MiniLM on the demo judgements, its
  progress, time left and curves as the run streams them
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 1280, 800  # a laptop screen
TRAIN_SHOT_AFTER_S = 60  # the Train panel is saved this long after its run starts
# The app as `labeler gui` starts it, plus a timer that writes where the ranking strip's chips and
# gaps are (window coordinates, device pixels) and the ranking typed so far, so xdotool can drag a
# chip with the real mouse and the script can check the drag did what it should. With "dark", a
# dark palette is set the way a dark desktop would set it.
START = """
import json, os, sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication
from labeler.ui.app import run_app
from labeler.ui.main_window import MainWindow

project, report, scheme = sys.argv[1:4]
app = QApplication(sys.argv)
if scheme == "dark":
    dark = QPalette()
    for role, colour in {
        "Window": "#2b2b2b", "WindowText": "#e8e8e8", "Base": "#1f1f1f", "AlternateBase": "#2a2a2a",
        "Text": "#e8e8e8", "Button": "#353535", "ButtonText": "#e8e8e8", "Highlight": "#3d7bd9",
        "HighlightedText": "#ffffff", "Mid": "#5a5a5a", "Dark": "#151515", "Light": "#4a4a4a",
        "PlaceholderText": "#9a9a9a", "ToolTipBase": "#353535", "ToolTipText": "#e8e8e8",
    }.items():
        dark.setColor(getattr(QPalette.ColorRole, role), QColor(colour))
    app.setPalette(dark)


def where():
    for window in app.topLevelWidgets():
        if isinstance(window, MainWindow) and window.isVisible():
            strip, ratio = window.task_view.strip, window.devicePixelRatio()
            found = {}
            for spot in strip.spots:
                if spot.kind in ("chip", "gap", "tier", "out"):
                    centre = strip.mapTo(window, spot.rect.center())
                    found[f"{spot.kind}-{spot.index}"] = [round(centre.x() * ratio), round(centre.y() * ratio)]
            Path(report + ".tmp").write_text(json.dumps({"spots": found, "ranking": window.task_view.input.describe()}))
            os.replace(report + ".tmp", report)  # whole, never half written when read


timer = QTimer()
timer.timeout.connect(where)
timer.start(200)
sys.exit(run_app(Path(project), annotator="alice"))
"""


def demo_rows() -> dict[str, dict]:
    lines = (REPO / "resources" / "demo-prompts.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["id"]: row for row in map(json.loads, filter(None, lines))}


def build_project(path: Path, rows: list[dict]) -> None:
    """A project holding `rows` (demo prompt rows) and the bundled guidelines."""
    data = path.with_suffix(".jsonl")
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    python = sys.executable
    subprocess.run([python, "-m", "labeler", "init", str(path)], check=True, capture_output=True)
    subprocess.run([python, "-m", "labeler", "import", str(path), str(data)], check=True, capture_output=True)


def hh_chat_row(path: Path, turns: int = 13) -> dict | None:
    """The first pair of the HH file whose prompt is a chat of `turns` messages, as a prompt with two
    answers (no judgement: the screenshot's annotator has it to do); None without the file."""
    if not path.is_file():
        return None
    from labeler.formats.pair_rows import parse_pair

    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            pair = parse_pair(json.loads(line))
            if isinstance(pair.prompt, tuple) and len(pair.prompt) == turns:
                return {"prompt": list(pair.prompt), "answers": [{"text": pair.chosen}, {"text": pair.rejected}]}
    return None


def judged_rows(rows: list[dict]) -> list[dict]:
    """The demo rows judged by two annotators: bob ranks every answer in order, carol on every other
    prompt the same but for her last two, swapped; for the Browse tab's columns and judgements and
    the Models tab's agreement."""
    judged = []
    for index, row in enumerate(rows):
        numbers = list(range(len(row["answers"])))
        judged.append({**row, "ranking": numbers, "annotator": "bob"})
        if index % 2 == 0:
            judged.append({**row, "ranking": [*numbers[:-2], numbers[-1], numbers[-2]], "annotator": "carol"})
    return judged


def xdotool(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["xdotool", *args], env=env, check=True, capture_output=True, text=True).stdout.strip()


class App:
    """The app on a project, on the virtual screen; keys typed into it, its window saved."""

    def __init__(self, project: Path, env: dict[str, str], dark: bool = False):
        self.env = env
        self.report = project.with_suffix(".where.json")
        command = [sys.executable, "-c", START, str(project), str(self.report), "dark" if dark else "light"]
        self.process = subprocess.Popen(command, env=env, cwd=REPO)
        self.window = xdotool(env, "search", "--sync", "--onlyvisible", "--name", " — labeler").split()[0]
        xdotool(env, "windowmove", self.window, "0", "0")
        scale = float(env.get("QT_SCALE_FACTOR", "1"))  # the same window in logical pixels at any scale
        xdotool(env, "windowsize", self.window, str(round(WIDTH * scale)), str(round(HEIGHT * scale)))
        time.sleep(1.0)
        xdotool(env, "windowfocus", self.window)
        time.sleep(0.3)

    def keys(self, *keys: str) -> None:
        """Keys typed into the focused window (xdotool key --window sends synthetic events instead)."""
        for key in keys:
            xdotool(self.env, "key", key)
            time.sleep(0.15)

    def focus(self, title: str) -> None:
        """Give the keyboard to the window called `title` (a dialog of the app)."""
        window = xdotool(self.env, "search", "--sync", "--onlyvisible", "--name", title).split()[0]
        xdotool(self.env, "windowfocus", window)
        time.sleep(0.3)

    def drag(self, start: tuple[int, int], end: tuple[int, int]) -> None:
        """A real mouse drag, in window coordinates."""
        x0, y0 = start
        x1, y1 = end
        xdotool(self.env, "mousemove", "--window", self.window, str(x0), str(y0), "mousedown", "1")
        for step in range(1, 11):
            x, y = x0 + (x1 - x0) * step // 10, y0 + (y1 - y0) * step // 10
            xdotool(self.env, "mousemove", "--window", self.window, str(x), str(y))
            time.sleep(0.05)
        xdotool(self.env, "mouseup", "1")
        time.sleep(0.3)

    def where(self) -> dict:
        """The strip's chips and gaps (window coordinates) and the ranking typed so far."""
        time.sleep(0.5)
        return json.loads(self.report.read_text())

    def save(self, out: Path) -> None:
        time.sleep(0.6)
        raw = out.with_suffix(".raw.png")
        subprocess.run(["import", "-window", self.window, str(raw)], env=self.env, check=True)
        subprocess.run(
            ["convert", str(raw), "-strip", "-colors", "256", "-define", "png:compression-level=9", str(out)],
            check=True,
        )
        raw.unlink()
        print(f"{out}  {out.stat().st_size / 1024:.0f} KB")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--display", default=":99")
    parser.add_argument("--scale", default="1", help="QT_SCALE_FACTOR, e.g. 2 to check HiDPI")
    parser.add_argument(
        "--hh",
        type=Path,
        default=REPO.parent / "shared" / "data" / "hh-harmless-dev" / "pairs.jsonl.gz",
        help="the HH-RLHF dev pairs, for label-hh-chat.png (left out without them)",
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="take only these (today: train-panel)")
    args = parser.parse_args()
    for tool in ("Xvfb", "xdotool", "import", "convert"):
        if shutil.which(tool) is None:
            sys.exit(f"screenshots: {tool} is needed")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = demo_rows()

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        scale = float(args.scale)
        screen = f"{int(WIDTH * scale)}x{int(HEIGHT * scale)}x24"
        xvfb = subprocess.Popen(["Xvfb", args.display, "-screen", "0", screen, "-nolisten", "tcp"])
        env = {
            **os.environ,
            "DISPLAY": args.display,
            "QT_QPA_PLATFORM": "xcb",
            "QT_SCALE_FACTOR": args.scale,
            "HOME": str(folder),  # the app's settings and data folder stay in here
            "XDG_CONFIG_HOME": str(folder / "config"),
            "XDG_DATA_HOME": str(folder / "data"),
        }
        suffix = "" if args.scale == "1" else f"@{args.scale}x"
        try:
            time.sleep(1.0)
            if args.only:
                take_only(args.only, folder, env, rows, args.out, suffix)
                return
            # Two answers that differ in a few words: D shows which.
            pair = dict(rows["demo-007"])
            pair["answers"] = [a for a in pair["answers"] if a["model"].startswith("smollm2")]
            build_project(folder / "pair.db", [pair])
            app = App(folder / "pair.db", env)
            app.keys("d")
            app.save(args.out / f"label-pair-diff{suffix}.png")
            app.close()

            # Four answers, mid-ranking: typed, then one dragged into second place in the strip.
            build_project(folder / "four.db", [rows["demo-017"]])
            app = App(folder / "four.db", env)
            app.keys("2", "equal", "4")
            before = app.where()
            assert before["ranking"] == "2 = 4", before
            app.drag(before["spots"]["chip-1"], before["spots"]["gap-1"])  # below the tie
            after = app.where()
            assert after["ranking"] == "2 = 4 >> 1", f"the mouse drag did not place answer 1: {after}"
            app.keys("shift+Up", "f", "4")
            app.focus("Flags for answer 4")
            app.keys("space", "Return")  # tick "fails to follow the instruction", OK
            xdotool(env, "windowfocus", app.window)
            app.save(args.out / f"label-ranking{suffix}.png")
            app.keys("question")
            app.save(args.out / f"keyboard-help{suffix}.png")
            app.close()

            build_project(folder / "chat.db", [rows["demo-023"]])
            app = App(folder / "chat.db", env, dark=True)
            app.keys("3", "1")
            app.save(args.out / f"label-chat-dark{suffix}.png")
            app.close()

            hh = hh_chat_row(args.hh)
            if hh is None:
                print(f"label-hh-chat.png left out: no 13-turn chat in {args.hh}")
            else:
                build_project(folder / "hh.db", [hh])
                app = App(folder / "hh.db", env)
                app.save(args.out / f"label-hh-chat{suffix}.png")
                app.keys("2")
                app.save(args.out / f"label-hh-pair{suffix}.png")
                app.close()

            demo = [row for key, row in sorted(rows.items())]
            build_project(folder / "browse.db", judged_rows(demo))
            app = App(folder / "browse.db", env)
            app.keys("alt+b")
            time.sleep(1.0)  # the table is filled on a worker
            app.keys("ctrl+f", *"code", "Return", "Down")
            app.save(args.out / f"browse{suffix}.png")
            app.close()

            # A real reward model trained on those judgements (the defaults; a minute or two on a CPU).
            trainer = Path(sys.executable).parent / "labeler-train"
            run = folder / "browse.models" / "reward-1"
            subprocess.run([str(trainer), "reward", str(folder / "browse.db"), "--out", str(run)], check=True)
            app = App(folder / "browse.db", env)
            app.keys("alt+m", "Down", "Up")
            app.save(args.out / f"models{suffix}.png")
            app.close()
            train_panel(folder, env, rows, args.out, suffix)
        finally:
            xvfb.terminate()
            xvfb.wait(10)


def train_panel(folder: Path, env: dict[str, str], rows: dict[str, dict], out: Path, suffix: str) -> None:
    """The Train panel mid-run: a reward model fine-tuned from MiniLM on the demo judgements, started with
    the panel's keys, saved once a few steps have drawn their curves."""
    project = folder / "train.db"
    demo = [row for _, row in sorted(rows.items())]
    build_project(project, judged_rows(demo[:-3]) + demo[-3:])  # three prompts left for alice to rank
    app = App(project, env)
    app.keys("ctrl+shift+r", "alt+d", "ctrl+a", *"minilm", "alt+u", "Down", "alt+e", "ctrl+a", "1", "0")
    app.keys("ctrl+Return")
    steps = project.with_suffix(".models") / "reward-1" / "checkpoints"
    time.sleep(TRAIN_SHOT_AFTER_S)  # a few steps in: MiniLM fine-tuned on 2 cores takes seconds a step
    assert not steps.parent.joinpath("metrics.json").exists(), "the run ended before the screenshot"
    app.save(out / f"train-panel{suffix}.png")
    # Quit with the keys, not a signal: the window's close ends its child run (a killed app would leave it).
    app.keys("ctrl+q")
    app.process.wait(30)


def take_only(names: list[str], folder: Path, env: dict[str, str], rows: dict, out: Path, suffix: str) -> None:
    known = {"train-panel": train_panel}
    for name in names:
        if name not in known:
            sys.exit(f"screenshots: --only knows {', '.join(known)}")
        known[name](folder, env, rows, out, suffix)


if __name__ == "__main__":
    main()
