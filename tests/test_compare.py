"""`labeler-train compare` on tiny models: two policies answer the same prompts, a third model judges them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import make_causal_lm, make_reward_model, make_tokenizer

from trainer.cli import main
from trainer.compare import CompareConfig, compare
from trainer.judging import win_rate

torch.set_num_threads(1)

TOPICS = ["rivers", "stones", "clouds", "tigers", "lamps", "sugar", "wind", "paper", "glass", "honey"]
BIN = Path(sys.executable).parent
QUICK = ["--max-new-tokens", "6", "--batch-size", "4", "--threads", "1"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    """Two different tiny chat policies, a tiny reward model as the judge, ten prompts (one twice)."""
    root = tmp_path_factory.mktemp("compare")
    prompts = [f"Tell me about {topic}." for topic in TOPICS]
    tokenizer = make_tokenizer([*prompts, *(f"{topic} are fine" for topic in TOPICS)])
    make_causal_lm(tokenizer, root / "policy-a", seed=0)
    make_causal_lm(tokenizer, root / "policy-b", seed=1)
    make_reward_model(tokenizer, root / "judge", seed=2)
    rows = [{"prompt": prompt} for prompt in [*prompts, prompts[0]]]  # a repeated prompt is judged once
    (root / "prompts.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return {"root": root, "a": root / "policy-a", "b": root / "policy-b", "judge": root / "judge"}


def args(workspace, a: str, b: str, *more: str) -> list[str]:
    return ["compare", str(workspace[a]), str(workspace[b]), "--judge", str(workspace["judge"]),
            "--prompts", str(workspace["root"] / "prompts.jsonl"), *QUICK, *more]  # fmt: skip


@pytest.mark.slow
def test_a_policy_against_itself_ties_on_every_prompt_through_the_console_script(workspace, tmp_path):
    # Same seed, same weights: the same answers, so the same scores: 10 ties, a win rate of exactly 1/2, and the
    # Wilson interval of 5 successes in 10 (hand-computed in test_judging.py).
    out = tmp_path / "answers.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [str(BIN / "labeler-train"), *args(workspace, "a", "a", "--json", "--out", str(out))]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"policy_a", "policy_b", "judge", "prompts", "wins", "ties", "losses", "win_rate",
                           "win_low", "win_high", "mean_score_a", "mean_score_b"}  # fmt: skip
    assert (report["prompts"], report["wins"], report["ties"], report["losses"]) == (10, 0, 10, 0)
    assert report["win_rate"] == 0.5
    assert report["win_low"] == pytest.approx(0.236593, abs=1e-5)
    assert report["win_high"] == pytest.approx(0.763407, abs=1e-5)
    assert report["mean_score_a"] == report["mean_score_b"]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["prompt"] for row in rows] == [f"Tell me about {topic}." for topic in TOPICS]
    assert all(row["answer_a"] == row["answer_b"] and row["score_a"] == row["score_b"] for row in rows)
    assert {row["winner"] for row in rows} == {"tie"}


def test_the_report_agrees_with_the_answers_it_wrote(workspace, tmp_path):
    out = tmp_path / "answers.jsonl"
    config = CompareConfig(
        policy_a=str(workspace["a"]), policy_b=str(workspace["b"]), judge=workspace["judge"],
        prompts=workspace["root"] / "prompts.jsonl", max_new_tokens=6, batch_size=4, out=out,
    )  # fmt: skip
    report = compare(config)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    scores_a, scores_b = [row["score_a"] for row in rows], [row["score_b"] for row in rows]
    expected = win_rate(scores_a, scores_b)
    assert report["prompts"] == len(rows) == 10
    assert (report["wins"], report["ties"], report["losses"]) == (expected.wins, expected.ties, expected.losses)
    assert (report["win_rate"], report["win_low"], report["win_high"]) == (expected.rate, expected.low, expected.high)
    assert report["mean_score_a"] == pytest.approx(sum(scores_a) / 10)
    assert report["mean_score_b"] == pytest.approx(sum(scores_b) / 10)
    assert any(row["answer_a"] != row["answer_b"] for row in rows)  # two different policies
    assert [row["winner"] for row in rows].count("b") == expected.wins
    assert compare(config) == report  # seeded: the same verdict again


def test_the_summary_line_says_who_won_how_often(workspace, capsys):
    assert main(args(workspace, "a", "b")) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("B wins ")
    assert " of 10 prompts against A: " in line
    assert "mean score A " in line


def test_a_project_file_gives_its_prompts(workspace, tmp_path, capsys):
    from helpers.projects import make_project

    make_project(tmp_path / "project.db", [(f"Tell me about {topic}.", ["ok", "fine"]) for topic in TOPICS[:3]])
    command = ["compare", str(workspace["a"]), str(workspace["a"]), "--judge", str(workspace["judge"])]
    assert main([*command, "--prompts", str(tmp_path / "project.db"), *QUICK, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prompts"] == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"b": "missing"}, "missing: no such model folder"),
        ({"judge": "a"}, "policy-a: not a reward model"),
        ({"prompts": "empty.jsonl"}, "empty.jsonl: no prompts in the file"),
        ({"prompts": "nowhere.jsonl"}, "nowhere.jsonl: no such file"),
    ],
)
def test_mistakes_get_one_line(workspace, tmp_path, capsys, change, message):
    (tmp_path / "empty.jsonl").write_text("")
    folders = {"a": workspace["a"], "b": workspace["b"], "judge": workspace["judge"]}
    for key, value in change.items():
        folders[key] = workspace.get(value, tmp_path / value)
    prompts = tmp_path / change["prompts"] if "prompts" in change else workspace["root"] / "prompts.jsonl"
    command = ["compare", str(folders["a"]), str(folders["b"]), "--judge", str(folders["judge"]), "--prompts"]
    assert main([*command, str(prompts), *QUICK]) == 1
    error = capsys.readouterr().err
    assert error.startswith("labeler-train: error: ")
    assert message in error
    assert error.count("\n") == 1
