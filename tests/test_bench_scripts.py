"""The benchmark scripts run, on a small slice, so they cannot rot between the runs BENCHMARKS.md records."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the whole module: see `make test-fast`

REPO = Path(__file__).resolve().parent.parent
HH_PAIRS = REPO.parent / "shared" / "data" / "hh-harmless-dev" / "pairs.jsonl.gz"


def run_bench(folder: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    """bench/SCRIPT ARGS run as a user runs it, in `folder`; it must succeed."""
    done = subprocess.run(
        [sys.executable, REPO / "bench" / script, *args], capture_output=True, text=True, timeout=600, cwd=folder
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.skipif(not HH_PAIRS.is_file(), reason=f"the HH dev set is not on this machine ({HH_PAIRS})")
def test_the_real_text_reward_bench_runs_on_a_slice_of_hh(tmp_path):
    done = run_bench(tmp_path, "reward_bench.py", "--real", "--hh-pairs", "24", "--k4-rankings", "8")
    rows = [line for line in done.stdout.splitlines() if line.startswith("| HH ")]
    assert rows[:5] == rows[5:]  # each run's row as it ends, then the whole table
    trainers = [row.split(" | ")[1] for row in rows[:5]]
    assert trainers == ["ours (--tune all)", "ours (--tune all), fp32", "TRL RewardTrainer (fp32)",
                        "ours (--tune all)", "TRL RewardTrainer (fp32)"]  # fmt: skip
    assert "HH pairs, K = 2: ours at " in done.stdout
    assert "HH text, K = 4 (8 rankings): ours at " in done.stdout


@pytest.mark.skipif(not HH_PAIRS.is_file(), reason=f"the HH dev set is not on this machine ({HH_PAIRS})")
def test_the_k_fold_reward_bench_runs_on_a_slice_of_hh(tmp_path):
    done = run_bench(
        tmp_path, "reward_folds.py", "--hh-pairs", "24", "--folds", "2", "--run", 'short={"max_length": 128}'
    )
    [row] = [line for line in done.stdout.splitlines() if line.startswith("| short |")]
    cells = row.split(" | ")
    assert cells[1] == '`{"max_length": 128}`'
    folds = [float(value) for value in cells[3].split()]
    assert len(folds) == 2
    assert all(0 <= value <= 1 for value in folds)
    mean = float(cells[2].strip("*").split(" ± ")[0])
    assert mean == pytest.approx(sum(folds) / 2, abs=0.001)  # the mean is of the folds it lists
    assert "fold 1:" in done.stdout
    assert "fold 2:" in done.stdout
    baselines = done.stdout.split("the shorter reply wins ")[1].split(", the longer wins ")
    shorter, longer = float(baselines[0]), float(baselines[1].split(";")[0])
    assert shorter + longer == pytest.approx(1.0, abs=0.01)  # ties count half to each


@pytest.mark.skipif(not HH_PAIRS.is_file(), reason=f"the HH dev set is not on this machine ({HH_PAIRS})")
def test_the_margin_bench_runs_on_a_slice_of_hh(tmp_path):
    done = run_bench(tmp_path, "reward_margins.py", "--hh-pairs", "40", "--repeats", "1")
    table = done.stdout.split("\n\n| annotators")[1]
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ")]  # the rows under the header
    assert [(row[0], row[2]) for row in rows[:2]] == [("| HH (people)", "none"), ("| HH (people)", "scaled 1")]
    simulated = [(row[0], row[1], row[2]) for row in rows[2:]]
    assert simulated == [
        (f"| simulated, K = {k}", strengths, margin)
        for k in (2, 4)
        for strengths in ("informative", "noise")
        for margin in ("none", "scaled 0.5", "scaled 1")
    ]
    for row in rows:
        accuracy = float(row[3].split(" ± ")[0])
        assert 0 <= accuracy <= 1


@pytest.mark.skipif(not HH_PAIRS.is_file(), reason=f"the HH dev set is not on this machine ({HH_PAIRS})")
def test_the_probe_bench_runs_on_a_slice_of_hh(tmp_path):
    done = run_bench(
        tmp_path,
        "reward_probes.py",
        "--base",
        "minilm",
        "--hh-pairs",
        "30",
        "--layers",
        "3,6",
        "--l2",
        "0.1,1",
        "--folds",
        "3",
    )
    table = done.stdout.split("\n\n| layer")[1]
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ")]
    assert [(row[0], row[1]) for row in rows] == [
        (f"| {layer}", pooling) for layer in (3, 6) for pooling in ("mean", "first", "last")
    ]
    for row in rows:
        assert len(row) == 4  # a cell per L2 strength
        assert all(0 <= float(cell.strip(" |").split(" ± ")[0]) <= 1 for cell in row[2:])
    assert "30 HH rankings, held-out accuracy 3-fold" in done.stdout


def test_the_train_panel_bench_runs_a_second_of_events(tmp_path):
    done = run_bench(tmp_path, "train_panel_bench.py", "--seconds", "1")
    assert "run done, 22 events at 20/s" in done.stdout  # start, 20 steps, done
    assert "| per event (read, parse, bar, points) | 22 |" in done.stdout
