"""A run's progress on stderr when stderr is not a terminal: a line every few seconds and at the end."""

import io

from trainer import events
from trainer.events import Progress


def capture_stderr(monkeypatch) -> io.StringIO:
    """stderr as a log file (not a terminal). Set in the test itself: pytest's own capture puts its
    stderr back between a fixture's set-up and the test."""
    captured = io.StringIO()
    monkeypatch.setattr(events.sys, "stderr", captured)
    return captured


def test_a_line_at_the_first_and_the_last_step_and_none_between_within_the_interval(monkeypatch):
    stderr = capture_stderr(monkeypatch)
    progress = Progress(10, events=False, description="reward (grouped)")
    for step in range(1, 11):
        progress.step(step, loss=0.5, accuracy=0.75, label="not a number")
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 2  # ten steps in well under LOG_EVERY_S
    assert lines[0].startswith("reward (grouped): step 1/10, loss 0.5, accuracy 0.75, 0m00s so far, about ")
    assert lines[1].startswith("reward (grouped): step 10/10, loss 0.5, accuracy 0.75, ")
    assert lines[1].endswith("about 0m00s left")


def test_every_step_has_a_line_once_the_interval_has_passed(monkeypatch):
    stderr = capture_stderr(monkeypatch)
    monkeypatch.setattr(events, "LOG_EVERY_S", 0.0)
    progress = Progress(3, events=False, description="ppo")
    for step in range(1, 4):
        progress.step(step)
    assert [line.split(",")[0] for line in stderr.getvalue().splitlines()] == [
        "ppo: step 1/3",
        "ppo: step 2/3",
        "ppo: step 3/3",
    ]


def test_events_and_other_processes_write_no_lines(monkeypatch, capsys):
    stderr = capture_stderr(monkeypatch)
    Progress(2, events=True, description="x").step(1, loss=1.0)
    Progress(2, events=False, description="x", enabled=False).step(1, loss=1.0)
    assert stderr.getvalue() == ""
    assert '"event": "step"' in capsys.readouterr().out


def test_durations_read_as_minutes_or_hours():
    assert events._duration(5) == "0m05s"
    assert events._duration(754) == "12m34s"
    assert events._duration(3 * 3600 + 7 * 60 + 20) == "3h07m"
