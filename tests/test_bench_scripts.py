"""The benchmark scripts run, on a small slice, so they cannot rot between the runs BENCHMARKS.md records."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HH_PAIRS = REPO.parent / "shared" / "data" / "hh-harmless-dev" / "pairs.jsonl.gz"


@pytest.mark.skipif(not HH_PAIRS.is_file(), reason=f"the HH dev set is not on this machine ({HH_PAIRS})")
def test_the_real_text_reward_bench_runs_on_a_slice_of_hh(tmp_path):
    done = subprocess.run(
        [sys.executable, REPO / "bench" / "reward_bench.py", "--real", "--hh-pairs", "24", "--k4-rankings", "8"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| HH ")]
    assert rows[:5] == rows[5:]  # each run's row as it ends, then the whole table
    trainers = [row.split(" | ")[1] for row in rows[:5]]
    assert trainers == ["ours (defaults)", "ours, fp32", "TRL RewardTrainer (fp32)", "ours (defaults)",
                        "TRL RewardTrainer (fp32)"]  # fmt: skip
    assert "HH pairs, K = 2: ours at " in done.stdout
    assert "HH text, K = 4 (8 rankings): ours at " in done.stdout
