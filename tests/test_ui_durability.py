"""Issue 14 as the user met it: the real window saves judgements from the keyboard, `labeler stats`
reads the project from another process, the window saves more, then its process is killed with
SIGKILL. Every judgement the window said it saved must be in the file, with its pairs.

The window's worker jobs each open a store of their own; an opening that closed a descriptor of
the project file dropped the window's SQLite locks, so `labeler stats` believed it was the file's
last user and deleted the write-ahead log under the window, which went on saving into a deleted
file. The window lives in a child process (tests/helpers/window_child.py), since a test cannot
SIGKILL itself.
"""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers.durability import check_project, integrity
from helpers.projects import make_project, numbered_prompts
from helpers.window_child import PROJECT_VARIABLE

import labeler

pytestmark = pytest.mark.slow  # the whole module: see `make test-fast`

REPO_ROOT = Path(__file__).resolve().parent.parent
WINDOW_CHILD = Path(__file__).resolve().parent / "helpers" / "window_child.py"
LABELER = Path(sys.executable).parent / "labeler"
LINE_TIMEOUT_S = 30  # the child's first line comes after pytest, Qt and the window have started


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project.db"
    make_project(path, numbered_prompts(8, lambda p: 2 + p % 3), guidelines="Rank by helpfulness.")
    return path


class WindowProcess:
    """The child process holding the window, spoken to one line at a time."""

    def __init__(self, project: Path, log: Path):
        self.log = log
        with log.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pytest", str(WINDOW_CHILD), "-s", "-q", "-p", "no:cacheprovider"],
                cwd=REPO_ROOT,
                env={**os.environ, PROJECT_VARIABLE: str(project)},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        # A thread reads, so that waiting for a line can time out instead of hanging the suite.
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with self.process.stdout:
            for line in self.process.stdout:
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, word: str) -> str:
        """The rest of the next line that starts with `word` (pytest's own lines are passed over)."""
        while True:
            try:
                line = self.lines.get(timeout=LINE_TIMEOUT_S)
            except queue.Empty:
                pytest.fail(f"the window said nothing for {LINE_TIMEOUT_S} s; its log:\n{self.log.read_text()}")
            if line is None:
                pytest.fail(f"the window's process ended; its log:\n{self.log.read_text()}")
            if line.split(" ")[0] == word:
                return line.removeprefix(word).strip()

    def rank(self, count: int) -> dict[str, str]:
        """Have the window rank `count` prompts; {uuid: pairs} of the judgements it reported saved."""
        self.process.stdin.write(f"rank {count}\n")
        self.process.stdin.flush()
        saved = dict(self.expect("saved").split() for _ in range(count))
        self.expect("ready")
        return saved

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process.stdin.close()


def judgements_counted_by_labeler_stats(project: Path) -> int:
    """What another process, the real `labeler stats`, finds in the project."""
    stats = subprocess.run([LABELER, "stats", project, "--json"], capture_output=True, text=True, timeout=60)
    assert stats.returncode == 0, stats.stderr
    return json.loads(stats.stdout)["counts"]["judgements"]


def test_judgements_the_window_saved_survive_another_reader_and_sigkill(project, tmp_path):
    window = WindowProcess(project, tmp_path / "window.log")
    try:
        # The window runs the code under test (in a worktree of an old commit, that commit's).
        assert window.expect("open") == labeler.__file__
        saved = window.rank(2)
        assert judgements_counted_by_labeler_stats(project) == 2
        saved |= window.rank(3)
    finally:
        window.kill()

    assert len(saved) == 5
    assert judgements_counted_by_labeler_stats(project) == 5, "judgements the window said were saved are lost"
    found = check_project(project, saved)
    assert found.missing == []
    assert found.wrong_pairs == []
    assert integrity(project) == "ok"
