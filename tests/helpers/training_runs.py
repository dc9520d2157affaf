"""What the trainer's tests share: a `labeler-train` run killed at its first checkpoint, and models compared
weight by weight."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def kill_at_first_checkpoint(args: list[str], out: Path) -> None:
    """Run `labeler-train ARGS` (which must include --events) and SIGKILL it the moment it reports its first
    checkpoint: a run stopped mid-way, with no model written to `out` yet."""
    command = [sys.executable, "-m", "trainer", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in process.stdout:
        if json.loads(line)["event"] == "checkpoint":
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (out / "model.safetensors").exists()


def assert_same_weights(expected: Path, got: Path) -> None:
    """The two model folders hold bit-identical weights."""
    want, have = weights(expected), weights(got)
    assert want.keys() == have.keys()
    for name in want:
        torch.testing.assert_close(have[name], want[name], rtol=0, atol=0)
