"""The real console scripts, run in a subprocess on real files."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from labeler import __version__
from labeler.domain import Judgement, Ranking
from labeler.store import NewAnswer, open_store

BIN = Path(sys.executable).parent


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LABELER_DEBUG"}
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_version():
    assert run("labeler", "--version").stdout.strip() == f"labeler {__version__}"
    assert run("labeler-train", "--version").stdout.strip() == f"labeler-train {__version__}"


@pytest.mark.parametrize(
    "command",
    [
        ["labeler"],
        ["labeler", "init"],
        ["labeler", "stats"],
        ["labeler", "gui"],
        ["labeler-train"],
        ["labeler-train", "env"],
    ],
)
def test_help_on_every_command(command):
    result = run(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage:")


def test_init_then_stats(tmp_path):
    project = tmp_path / "new.db"
    created = run("labeler", "init", str(project), "--annotators-per-prompt", "3")
    assert created.returncode == 0, created.stderr
    with open_store(project) as store:
        assert store.setting("annotators_per_prompt") == 3
        version, text = store.guidelines()
        assert version == 1
        assert "Version 1" in text
        prompt_id, answers = store.add_prompt("p", [NewAnswer("a"), NewAnswer("b"), NewAnswer("c")])
        store.record_judgement(
            prompt_id, "ann", Judgement.ranked(Ranking.of([[answers[0], answers[1]], answers[2]])), answers
        )
    stats = run("labeler", "stats", str(project), "--json")
    assert stats.returncode == 0, stats.stderr
    counts = json.loads(stats.stdout)["counts"]
    assert (
        counts["prompts"],
        counts["answers"],
        counts["judgements"],
        counts["pairs"],
        counts["annotators"],
    ) == (1, 3, 1, 2, 1)
    table = run("labeler", "stats", str(project)).stdout
    assert "pairs" in table
    assert "2" in table


def test_init_with_own_guidelines(tmp_path):
    guidelines = tmp_path / "rules.md"
    guidelines.write_text("# Our rules\nBe kind.")
    assert run("labeler", "init", str(tmp_path / "p.db"), "--guidelines", str(guidelines)).returncode == 0
    with open_store(tmp_path / "p.db") as store:
        assert store.guidelines() == (1, "# Our rules\nBe kind.")


def test_init_refuses_to_overwrite(tmp_path):
    project = tmp_path / "p.db"
    assert run("labeler", "init", str(project)).returncode == 0
    before = project.read_bytes()
    assert_one_line_error(run("labeler", "init", str(project)), str(project), "already exists")
    assert project.read_bytes() == before


def test_errors_are_one_line(tmp_path):
    assert_one_line_error(run("labeler", "stats", str(tmp_path / "absent.db")), "absent.db", "no such project file")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    assert_one_line_error(run("labeler", "stats", str(text_file)), "notes.txt", "not a project file")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").close()
    assert_one_line_error(run("labeler", "stats", str(other)), "not a labeler project")
    assert_one_line_error(run("labeler", "init", str(tmp_path / "no" / "such" / "dir.db")), "does not exist")
    assert_one_line_error(
        run("labeler", "init", str(tmp_path / "x.db"), "--guidelines", str(tmp_path / "nope.md")), "nope.md"
    )
    assert_one_line_error(run("labeler", "init", str(tmp_path / "y.db"), "--annotators-per-prompt", "0"), "at least 1")


def test_usage_errors_exit_2_without_traceback():
    result = run("labeler", "frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid choice" in result.stderr


def test_python_dash_m_works_for_both_packages():
    for module, name in [("labeler", "labeler"), ("trainer", "labeler-train")]:
        result = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True)
        assert result.stdout.strip() == f"{name} {__version__}"


def test_reward_margin_options_reach_the_training_config(tmp_path, monkeypatch):
    import trainer.reward
    from trainer import cli

    configs = []
    monkeypatch.setattr(trainer.reward, "train_reward", lambda config: configs.append(config) or {})
    reward = ["reward", str(tmp_path / "project.db"), "--out", str(tmp_path / "rm"), "--events"]
    assert cli.main(reward) == 0
    assert cli.main([*reward, "--margin", "scaled", "--margin-scale", "0.25"]) == 0
    assert [(config.margin, config.margin_scale) for config in configs] == [("none", 1.0), ("scaled", 0.25)]


def test_reward_defaults_are_a_head_on_smollm2_and_fine_tuning_options_need_tune_all(tmp_path, monkeypatch):
    import trainer.reward
    from trainer import cli

    configs = []
    monkeypatch.setattr(trainer.reward, "train_reward", lambda config: configs.append(config) or {})
    reward = ["reward", str(tmp_path / "project.db"), "--out", str(tmp_path / "rm"), "--events"]
    assert cli.main(reward) == 0
    assert cli.main([*reward, "--tune", "all", "--base", "minilm", "--epochs", "3", "--learning-rate", "1e-5"]) == 0
    assert cli.main([*reward, "--head-l2", "0.5", "--layers", "12"]) == 0
    default, fine_tuned, head = configs
    assert (default.base, default.tune, default.layers, default.head_l2) == ("smollm2", "head", None, 0.1)
    defaults = trainer.reward.RewardConfig(project=tmp_path, out=tmp_path)
    assert default == trainer.reward.RewardConfig(project=default.project, out=default.out, events=True)
    assert (fine_tuned.base, fine_tuned.tune, fine_tuned.epochs, fine_tuned.learning_rate) == ("minilm", "all", 3, 1e-5)
    assert (fine_tuned.batch_size, fine_tuned.loss, fine_tuned.resume) == (defaults.batch_size, "grouped", False)
    assert (head.head_l2, head.layers) == (0.5, 12)


def test_fine_tuning_options_under_the_default_head_are_refused_in_one_line(tmp_path):
    project = tmp_path / "project.db"
    assert run("labeler", "init", str(project)).returncode == 0
    out = str(tmp_path / "rm")
    result = run("labeler-train", "reward", str(project), "--out", out, "--epochs", "3", "--loss", "pairwise")
    assert_one_line_error(result, "--loss, --epochs: for fine-tuning the whole model, add --tune all")
    result = run("labeler-train", "reward", str(project), "--out", out, "--tune", "all", "--head-l2", "1")
    assert_one_line_error(result, "--head-l2 is for --tune head (the default), not --tune all")
    assert not (tmp_path / "rm").exists()


def test_a_margin_scale_that_is_not_positive_is_a_one_line_error(tmp_path):
    project = tmp_path / "project.db"
    assert run("labeler", "init", str(project)).returncode == 0
    result = run("labeler-train", "reward", str(project), "--out", str(tmp_path / "rm"), "--margin-scale", "0")
    assert_one_line_error(result, "--margin-scale must be a positive number, not 0.0")
    assert not (tmp_path / "rm").exists()


@pytest.mark.slow
def test_trainer_env_reports_the_stack():
    result = run("labeler-train", "env", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    import torch

    assert report["torch"] == torch.__version__
    assert report["torch_threads"] >= 1
    assert set(report["embedded_models"]) == {"minilm", "smollm2"}


def test_stats_reports_annotators_agreement_and_model_ratings(tmp_path):
    # Two annotators rank the same 3 answers of 4 prompts; they agree on 2 of 3 pairs each time
    # (ann: a > b > c, bob: a > c > b), so agreement is 8 of 12 = 0.667. Model "strong" wrote every
    # answer a, which wins all its battles, so it is rated highest.
    project = tmp_path / "p.db"
    with open_store(project, create=True) as store:
        for p in range(4):
            prompt_id, (a, b, c) = store.add_prompt(
                f"prompt {p}",
                [NewAnswer("a", model="strong"), NewAnswer("b", model="mid"), NewAnswer("c", model="weak")],
            )
            store.record_judgement(
                prompt_id, "ann", Judgement.ranked(Ranking.of([a, b, c])), [a, b, c], seconds_spent=10
            )
            store.record_judgement(
                prompt_id, "bob", Judgement.ranked(Ranking.of([a, c, b])), [c, b, a], seconds_spent=p
            )
    result = run("labeler", "stats", str(project), "--json", "--bootstrap", "50")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["counts"]["judgements"] == 8
    assert report["annotators"] == [
        {"annotator": "ann", "judgements": 4, "timed": 4, "median_seconds": 10.0},
        {"annotator": "bob", "judgements": 4, "timed": 4, "median_seconds": 1.5},
    ]
    assert report["agreement"] == {"share": 8 / 12, "agreeing": 8, "comparisons": 12, "prompts": 4}
    assert -1 <= report["krippendorff_alpha_ordinal"] < 1
    models = [m["model"] for m in report["models"]]
    assert models[0] == "strong"
    assert report["models"][0]["wins"] == report["models"][0]["battles"] == 16
    assert report["models"][0]["rating_low"] <= report["models"][0]["rating"] <= report["models"][0]["rating_high"]
    text = run("labeler", "stats", str(project), "--bootstrap", "20").stdout
    assert "pairwise agreement  0.667" in text
    assert "strong" in text


def test_a_reader_that_stops_reading_is_not_an_error(tmp_path):
    """`labeler stats | head`: the pipe closes before the output is written; the command ends quietly, with the
    status a shell gives a program stopped by SIGPIPE."""
    project = tmp_path / "project.db"
    assert run("labeler", "init", str(project)).returncode == 0
    for command in (["labeler", "stats", str(project)], ["labeler", "stats", str(project), "--json"],
                    ["labeler-train", "env"]):  # fmt: skip
        read_end, write_end = os.pipe()
        os.close(read_end)  # nobody will read: the first write fails with EPIPE
        try:
            done = subprocess.run([str(BIN / command[0]), *command[1:]], stdout=write_end, stderr=subprocess.PIPE)
        finally:
            os.close(write_end)
        assert (done.returncode, done.stderr) == (141, b""), command
