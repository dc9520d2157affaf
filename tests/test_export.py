"""`labeler export` end to end: files TRL and `datasets` read unchanged, splits by prompt, round trips."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from labeler.domain import Flag, Judgement, Ranking
from labeler.formats.export import spreadsheet_safe
from labeler.store import NewAnswer, open_store

BIN = Path(sys.executable).parent
TRL_COLUMNS = ["prompt", "chosen", "rejected", "margin"]


def labeler(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "labeler"), *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture
def project(tmp_path) -> Path:
    """Six text prompts of 4 answers ranked by two annotators (ties, strengths), one correction
    (with formula-like answers), one 'all bad' and one skip."""
    path = tmp_path / "project.db"
    with open_store(path, create=True) as store:
        for p in range(6):
            prompt_id, answers = store.add_prompt(
                f"Question {p}: what is {p} + {p}?",
                [NewAnswer(f" The answer is {p + p + a}.", model=f"model-{a}") for a in range(4)],
            )
            store.record_judgement(
                prompt_id,
                "ann",
                Judgement.ranked(Ranking.of([answers[0], [answers[1], answers[2]], answers[3]], [3, 1])),
                answers,
            )
            if p < 3:
                store.record_judgement(
                    prompt_id, "bob", Judgement.ranked(Ranking.of(answers)), answers[::-1], seconds_spent=7.5
                )
        prompt_id, answers = store.add_prompt("Anything?", [NewAnswer('=HYPERLINK("x")'), NewAnswer("+1 no")])
        wrong = store.record_judgement(prompt_id, "ann", Judgement.ranked(Ranking.of(answers[::-1])), answers)
        store.record_judgement(
            prompt_id,
            "ann",
            Judgement.ranked(Ranking.of(answers), flags={answers[1]: frozenset({Flag.HARMFUL})}, likert=6),
            answers,
            supersedes=wrong.uuid,
        )
        prompt_id, answers = store.add_prompt("Bad one", [NewAnswer("x"), NewAnswer("y")])
        store.record_judgement(prompt_id, "ann", Judgement.all_bad(), answers)
        store.record_judgement(prompt_id, "bob", Judgement.skipped("not my field"), answers)
    return path


def pair_count(path: Path) -> int:
    with open_store(path) as store:
        return store.stats().pairs


def test_trl_jsonl_has_exactly_the_trl_columns_and_every_current_pair(project, tmp_path):
    out = tmp_path / "pairs.jsonl"
    result = labeler("export", project, out)
    assert result.returncode == 0, result.stderr
    loaded = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.column_names == TRL_COLUMNS
    # 6 rankings with tiers [1, 2, 1] -> 5 pairs each; 3 strict rankings of 4 -> 6 each; the
    # corrected judgement's 1 pair (the superseded one is left out).
    assert len(loaded) == 6 * 5 + 3 * 6 + 1 == pair_count(project)
    row = next(r for r in loaded if r["prompt"] == "Question 1: what is 1 + 1?" and r["margin"] == 4)
    assert (row["chosen"], row["rejected"]) == (" The answer is 2.", " The answer is 5.")
    assert not any(r["chosen"] == "+1 no" for r in loaded)  # from the superseded judgement


def test_reward_trainer_trains_on_every_export_unchanged(project, tmp_path):
    from tiny_models import run_reward_trainer

    for out, file_format in [
        (tmp_path / "pairs.jsonl", "json"),
        (tmp_path / "pairs.parquet", "parquet"),
        (tmp_path / "dataset", None),
    ]:
        assert labeler("export", project, out).returncode == 0
        losses = run_reward_trainer(str(out), file_format, tmp_path / f"run-{out.name}", steps=2)
        assert len(losses) == 2
    conversational = tmp_path / "conversational.jsonl"
    assert labeler("export", project, conversational, "--format", "trl-conversational").returncode == 0
    assert len(run_reward_trainer(str(conversational), "json", tmp_path / "run-conv", steps=2)) == 2


def test_a_split_never_puts_one_prompt_in_both(project, tmp_path):
    out = tmp_path / "split"
    result = labeler("export", project, out, "--test-fraction", "0.3", "--seed", "4")
    assert result.returncode == 0, result.stderr
    loaded = datasets.load_from_disk(str(out))
    assert set(loaded) == {"train", "test"}
    train, test = set(loaded["train"]["prompt"]), set(loaded["test"]["prompt"])
    assert train
    assert test
    assert not train & test
    assert len(loaded["train"]) + len(loaded["test"]) == pair_count(project)
    # The same seed gives the same split.
    again = tmp_path / "split-again"
    labeler("export", project, again, "--test-fraction", "0.3", "--seed", "4")
    assert set(datasets.load_from_disk(str(again))["test"]["prompt"]) == test


@pytest.mark.parametrize(
    ("selection", "expected"), [("adjacent", 6 * 4 + 3 * 3 + 1), ("best-vs-rest", 6 * 3 + 3 * 3 + 1)]
)
def test_pair_selections(project, tmp_path, selection, expected):
    out = tmp_path / f"{selection}.parquet"
    assert labeler("export", project, out, "--pairs", selection).returncode == 0
    assert pq.read_table(out).num_rows == expected


def test_only_the_chosen_annotators(project, tmp_path):
    out = tmp_path / "bob.jsonl"
    assert labeler("export", project, out, "--annotator", "bob").returncode == 0
    assert len(out.read_text().splitlines()) == 3 * 6
    adjacent = tmp_path / "bob-adjacent.jsonl"  # chosen from the rankings, not the stored pairs
    assert labeler("export", project, adjacent, "--annotator", "bob", "--pairs", "adjacent").returncode == 0
    assert len(adjacent.read_text().splitlines()) == 3 * 3


def test_rankings_export_holds_what_annotators_recorded_and_imports_back(project, tmp_path):
    out = tmp_path / "rankings.jsonl"
    assert labeler("export", project, out, "--format", "rankings").returncode == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 + 3 + 1 + 2
    assert {r["outcome"] for r in rows} == {"ranked", "all_bad", "skipped"}
    assert next(r for r in rows if r["outcome"] == "skipped")["skip_reason"] == "not my field"
    bob = next(r for r in rows if r["annotator"] == "bob")
    assert bob["ranking"] == [[0], [1], [2], [3]]
    assert bob["display_order"] == [3, 2, 1, 0]
    assert bob["seconds_spent"] == 7.5
    corrected = next(r for r in rows if r["prompt"] == "Anything?")
    assert corrected["flags"] == [[], ["harmful"]]
    assert corrected["likert"] == 6
    # The rankings file is an import file: a new project gets the same pairs.
    copy = tmp_path / "copy.db"
    assert labeler("init", copy).returncode == 0
    assert labeler("import", copy, out).returncode == 0
    assert pairs_by_text(copy) == pairs_by_text(project)


def pairs_by_text(path: Path) -> list:
    with open_store(path) as store:
        return sorted(
            store.conn.execute(
                "SELECT pr.content, c.text, r.text, p.margin FROM current_pairs p "
                "JOIN prompts pr ON pr.id = p.prompt_id JOIN answers c ON c.id = p.chosen_answer_id "
                "JOIN answers r ON r.id = p.rejected_answer_id"
            ).fetchall()
        )


@pytest.mark.parametrize("fmt", ["trl", "trl-conversational"])
def test_exporting_then_importing_gives_the_same_pairs(project, tmp_path, fmt):
    out = tmp_path / f"{fmt}.jsonl"
    assert labeler("export", project, out, "--format", fmt).returncode == 0
    copy = tmp_path / "copy.db"
    assert labeler("init", copy).returncode == 0
    imported = labeler("import", copy, out)
    assert imported.returncode == 0, imported.stderr
    assert pairs_by_text(copy) == pairs_by_text(project)


def test_csv_is_safe_in_a_spreadsheet(project, tmp_path):
    out = tmp_path / "pairs.csv"
    assert labeler("export", project, out, "--format", "csv").returncode == 0
    with out.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert set(rows[0]) == {*TRL_COLUMNS, "annotator"}
    formula = next(r for r in rows if r["prompt"] == "Anything?")
    assert formula["rejected"] == "'+1 no"
    assert formula["chosen"] == '\'=HYPERLINK("x")'
    assert [spreadsheet_safe(v) for v in ("@SUM(A1)", "-2", "\tx", "plain", 3)] == [
        "'@SUM(A1)",
        "'-2",
        "'\tx",
        "plain",
        3,
    ]


def test_chat_prompts_need_the_conversational_format(tmp_path):
    path = tmp_path / "chat.db"
    with open_store(path, create=True) as store:
        chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
        prompt_id, answers = store.add_prompt(chat, [NewAnswer("Hello."), NewAnswer("What do you want?")])
        store.record_judgement(prompt_id, "ann", Judgement.ranked(Ranking.of(answers)), answers)
    refused = labeler("export", path, tmp_path / "out.jsonl")
    assert refused.returncode == 1
    assert "trl-conversational" in refused.stderr
    assert not (tmp_path / "out.jsonl").exists()
    out = tmp_path / "conv.parquet"
    assert labeler("export", path, out, "--format", "trl-conversational").returncode == 0
    row = pq.read_table(out).to_pylist()[0]
    assert row["prompt"] == chat
    assert row["chosen"] == [{"role": "assistant", "content": "Hello."}]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["out.jsonl", "--test-fraction", "0.2"], "written to a folder"),
        (["out.jsonl", "--test-fraction", "1.5"], "between 0 and 1"),
        (["out.csv"], "csv format"),
        (["out.jsonl", "--format", "csv"], "csv format"),
        (["out.jsonl", "--annotator", "nobody"], "nothing to export"),
        (["existing.jsonl"], "already exists"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(project, tmp_path, args, fragment):
    (tmp_path / "existing.jsonl").write_text("keep me")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = labeler("export", project, tmp_path / args[0], *args[1:])
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "existing.jsonl").read_text() == "keep me"
