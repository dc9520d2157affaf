"""`labeler export` end to end: files TRL and `datasets` read unchanged, splits by prompt, round trips."""

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from helpers.before_m004 import make_project_before_m004
from helpers.projects import make_project

from labeler.domain import Flag, Judgement, Ranking
from labeler.formats.spreadsheet import spreadsheet_safe
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


def load_jsonl(path: Path, tmp_path: Path) -> datasets.Dataset:
    return datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))


def test_trl_jsonl_has_exactly_the_trl_columns_and_every_current_pair(project, tmp_path):
    out = tmp_path / "pairs.jsonl"
    result = labeler("export", project, out, "--margin", "all")
    assert result.returncode == 0, result.stderr
    loaded = load_jsonl(out, tmp_path)
    assert loaded.column_names == TRL_COLUMNS
    # 6 rankings with tiers [1, 2, 1] -> 5 pairs each; 3 strict rankings of 4 -> 6 each; the
    # corrected judgement's 1 pair (the superseded one is left out).
    assert len(loaded) == 6 * 5 + 3 * 6 + 1 == pair_count(project)
    row = next(r for r in loaded if r["prompt"] == "Question 1: what is 1 + 1?" and r["margin"] == 4)
    assert (row["chosen"], row["rejected"]) == (" The answer is 2.", " The answer is 5.")
    assert not any(r["chosen"] == "+1 no" for r in loaded)  # from the superseded judgement


# ann stated strengths 3 and 1 on her 6 rankings (5 pairs each); bob's 3 rankings and ann's correction
# state none: 30 of the 49 pairs have a stated margin.
ANN_STATED_MARGINS = Counter({3: 2, 4: 1, 1: 2})  # per ranking: a0 > a1, a2 by 3; a0 > a3 by 3 + 1; a1, a2 > a3 by 1
STATED_PAIRS = 6 * ANN_STATED_MARGINS.total()


@pytest.mark.parametrize(
    ("mode", "margins", "summary"),
    [
        ("auto", None, "no margin column: only 30 of 49 pairs had a stated margin (--margin stated writes"),
        (
            "stated",
            Counter({m: 6 * n for m, n in ANN_STATED_MARGINS.items()}) + Counter({0: 49 - STATED_PAIRS}),
            "margin column: 30 of 49 pairs had a stated margin; 0 (no margin) for the rest",
        ),
        # bob's strict rankings of 4: margins 2, 2, 2 (adjacent), 4, 4 and 6; the correction's one pair 2
        (
            "all",
            Counter({m: 6 * n for m, n in ANN_STATED_MARGINS.items()}) + Counter({2: 3 * 3 + 1, 4: 3 * 2, 6: 3}),
            "margin column: 30 of 49 pairs had a stated margin; the default strength 2 stands in",
        ),
        ("none", None, "no margin column (--margin none); 30 of 49 pairs had a stated margin"),
    ],
)
def test_the_margin_column_holds_only_what_was_asked_for(project, tmp_path, mode, margins, summary):
    out = tmp_path / f"{mode}.jsonl"
    result = labeler("export", project, out, "--margin", mode)
    assert result.returncode == 0, result.stderr
    assert summary in result.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 49
    if margins is None:
        assert all(set(row) == {"prompt", "chosen", "rejected"} for row in rows)
    else:
        assert all(list(row) == TRL_COLUMNS for row in rows)
        assert Counter(row["margin"] for row in rows) == margins


def test_margins_stated_in_every_pair_are_written_by_default_and_import_back_as_stated(project, tmp_path):
    """A TRL file's margins, 0 ("no margin") included, come back out exactly; pairs without any leave
    the column out, so no exported row carries a margin nobody stated."""
    stated = [
        {"prompt": "Zero?", "chosen": "a", "rejected": "b", "margin": 0},
        {"prompt": "Three?", "chosen": "c", "rejected": "d", "margin": 3},
        {"prompt": "Two?", "chosen": "e", "rejected": "f", "margin": 2},
    ]
    source = tmp_path / "stated.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in stated))
    first = tmp_path / "first.db"
    assert labeler("init", first).returncode == 0
    assert labeler("import", first, source).returncode == 0
    out = tmp_path / "out.jsonl"
    result = labeler("export", first, out)
    assert "every pair's margin was stated (3 pairs)" in result.stdout
    assert [json.loads(line) for line in out.read_text().splitlines()] == stated
    again = tmp_path / "again.db"
    assert labeler("init", again).returncode == 0
    assert labeler("import", again, out).returncode == 0
    assert pairs_by_text(again) == pairs_by_text(first)
    assert sorted(stated_margin for *_, stated_margin in pairs_by_text(first)) == [0, 2, 3]

    unstated = tmp_path / "unstated.jsonl"
    unstated.write_text(json.dumps({"prompt": "None?", "chosen": "g", "rejected": "h"}) + "\n")
    assert labeler("import", first, unstated).returncode == 0
    result = labeler("export", first, tmp_path / "mixed.jsonl")
    assert "no margin column: only 3 of 4 pairs had a stated margin" in result.stdout
    assert all("margin" not in json.loads(line) for line in (tmp_path / "mixed.jsonl").read_text().splitlines())


@pytest.mark.slow
def test_reward_trainer_trains_on_every_export_unchanged(project, tmp_path):
    from tiny_models import run_reward_trainer

    for out, file_format, margin in [
        (tmp_path / "pairs.jsonl", "json", "auto"),  # no margin column (not every margin was stated)
        (tmp_path / "stated.jsonl", "json", "stated"),  # margins and zeros
        (tmp_path / "all.jsonl", "json", "all"),
        (tmp_path / "none.jsonl", "json", "none"),
        (tmp_path / "pairs.parquet", "parquet", "stated"),
        (tmp_path / "dataset", None, "stated"),
    ]:
        assert labeler("export", project, out, "--margin", margin).returncode == 0
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
    # What was stated, losslessly; strengths as recorded (the default where none was stated).
    ann = next(r for r in rows if r["annotator"] == "ann" and r["prompt"].startswith("Question"))
    assert (ann["strengths"], ann["stated_strengths"]) == ([3, 1], [3, 1])
    assert (bob["strengths"], bob["stated_strengths"]) == ([2, 2, 2], [None, None, None])
    assert next(r for r in rows if r["outcome"] == "all_bad")["stated_strengths"] is None
    # The rankings file is an import file: a new project gets the same pairs.
    copy = tmp_path / "copy.db"
    assert labeler("init", copy).returncode == 0
    assert labeler("import", copy, out).returncode == 0
    assert pairs_by_text(copy) == pairs_by_text(project)


def pairs_by_text(path: Path) -> list:
    with open_store(path) as store:
        return sorted(
            store.conn.execute(
                "SELECT pr.content, c.text, r.text, p.margin, p.stated_margin FROM current_pairs p "
                "JOIN prompts pr ON pr.id = p.prompt_id JOIN answers c ON c.id = p.chosen_answer_id "
                "JOIN answers r ON r.id = p.rejected_answer_id"
            ).fetchall()
        )


@pytest.mark.parametrize("fmt", ["trl", "trl-conversational"])
def test_exporting_then_importing_gives_the_same_pairs(project, tmp_path, fmt):
    out = tmp_path / f"{fmt}.jsonl"
    assert labeler("export", project, out, "--format", fmt, "--margin", "all").returncode == 0
    copy = tmp_path / "copy.db"
    assert labeler("init", copy).returncode == 0
    imported = labeler("import", copy, out)
    assert imported.returncode == 0, imported.stderr
    # The same pairs and margins; a pair file states every margin it writes, so only those stated
    # before are stated the same (the rankings export keeps all of it).
    copied, original = pairs_by_text(copy), pairs_by_text(project)
    assert [pair[:4] for pair in copied] == [pair[:4] for pair in original]
    assert {pair for pair in copied if pair[4] is not None} >= {pair for pair in original if pair[4] is not None}


def test_a_project_recorded_before_m004_exports_what_its_rankings_stated_by_the_rule(tmp_path, monkeypatch):
    """Strengths other than 2 were stated; a 2 counts as not stated: through the stored pairs (all) and
    through the rankings (adjacent)."""
    path = tmp_path / "older.db"
    make_project_before_m004(path, monkeypatch)
    for selection, expected in [
        ("all", {"stated": [3, 4, 1], "default": [0, 0, 0], "mixed": [0, 3, 3]}),
        ("adjacent", {"stated": [3, 1], "default": [0, 0], "mixed": [0, 3]}),
    ]:
        out = tmp_path / f"{selection}.jsonl"
        result = labeler("export", path, out, "--pairs", selection, "--margin", "stated")
        assert result.returncode == 0, result.stderr
        margins: dict[str, list[int]] = {}
        for row in map(json.loads, out.read_text().splitlines()):
            margins.setdefault(row["prompt"].removesuffix(" prompt"), []).append(row["margin"])
        assert margins == expected


def test_csv_is_safe_in_a_spreadsheet(project, tmp_path):
    out = tmp_path / "pairs.csv"
    assert labeler("export", project, out, "--format", "csv", "--margin", "stated").returncode == 0
    with out.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == [*TRL_COLUMNS, "annotator"]
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


TRICKY_TEXTS = [
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2 degrees",
    "@SUM(A1)",
    "\tindented",
    "'quoted'",
    "''twice",
    "'=x",
    "plain",
]


def test_csv_cells_escaped_for_spreadsheets_import_back_as_they_were(tmp_path):
    """Both ways: a formula-like or apostrophe-led text leaves escaped and comes back unchanged, through the
    real commands; a CSV made by hand with a cell the export would not write is read as it is."""
    source = tmp_path / "tricky.jsonl"
    rows = [
        {"prompt": f"Prompt {index}: {text}", "chosen": text, "rejected": f"{text} (worse)"}
        for index, text in enumerate(TRICKY_TEXTS)
    ]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    for project in (first, second):
        assert labeler("init", project).returncode == 0
    assert labeler("import", first, source).returncode == 0
    exported = tmp_path / "pairs.csv"
    assert labeler("export", first, exported, "--format", "csv").returncode == 0
    with exported.open(newline="", encoding="utf-8") as file:
        cells = {row["chosen"] for row in csv.DictReader(file)}
    assert cells == {text if text == "plain" else "'" + text for text in TRICKY_TEXTS}  # inert in a spreadsheet
    done = labeler("import", second, exported)
    assert done.returncode == 0, done.stderr
    again = tmp_path / "again.jsonl"
    assert labeler("export", second, again).returncode == 0
    assert sorted(map(json.loads, again.read_text().splitlines()), key=str) == sorted(rows, key=str)

    by_hand = tmp_path / "by-hand.csv"
    by_hand.write_text("prompt,chosen,rejected\nQ,'plain,'-x\n")
    third = tmp_path / "third.db"
    assert labeler("init", third).returncode == 0
    assert labeler("import", third, by_hand).returncode == 0
    with open_store(third) as store:
        texts = {answer.text for answer in store.prompt(store.prompt_ids()[0]).answers}
    assert texts == {"'plain", "-x"}  # only the apostrophe the export would have written is taken away


def test_chat_prompts_are_messages_in_the_conversational_format(tmp_path):
    path = tmp_path / "chat.db"
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    make_project(path, [(chat, ["Hello.", "What do you want?"])], ranked_by=["ann"])
    out = tmp_path / "conv.parquet"
    assert labeler("export", path, out, "--format", "trl-conversational").returncode == 0
    row = pq.read_table(out).to_pylist()[0]
    assert row["prompt"] == chat
    assert row["chosen"] == [{"role": "assistant", "content": "Hello."}]


def test_chat_prompts_in_the_text_format_are_hh_transcripts_that_import_back_as_the_same_chats(tmp_path):
    """`--format trl` on a project of multi-turn chats (HH's own): the prompt is written as HH writes it,
    prompt + answer (what TRL's trainers read) is the whole transcript, and importing the file gives the
    same prompts and answers back (no duplicate prompt)."""
    chat = [
        {"role": "user", "content": "How do I bake bread?"},
        {"role": "assistant", "content": "Flour, water, yeast, salt."},
        {"role": "user", "content": "How long?"},
    ]
    path = tmp_path / "chat.db"
    [(prompt_id, _)] = make_project(path, [(chat, ["About an hour.", "Forever."])], ranked_by=["ann"])
    out = tmp_path / "pairs.jsonl"
    done = labeler("export", path, out)
    assert done.returncode == 0, done.stderr
    assert "1 chat prompt written as HH transcripts" in done.stdout
    [row] = map(json.loads, out.read_text().splitlines())
    assert row["prompt"] + row["chosen"] == (
        "\n\nHuman: How do I bake bread?\n\nAssistant: Flour, water, yeast, salt.\n\nHuman: How long?"
        "\n\nAssistant: About an hour."
    )
    assert labeler("import", path, out).returncode == 0  # into the same project: no new prompt or answer
    with open_store(path) as store:
        assert store.prompt_ids() == [prompt_id]
        assert [answer.text for answer in store.prompt(prompt_id).answers] == ["About an hour.", "Forever."]
        assert store.prompt(prompt_id).content == chat


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
