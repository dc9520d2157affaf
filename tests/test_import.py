"""`labeler import` end to end: the real console script on real files."""

import contextlib
import gzip
import hashlib
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeler.formats import importer
from labeler.formats.source_rows import FileFormatError
from labeler.store import content_hash, importing, open_store, text_hash

BIN = Path(sys.executable).parent


def labeler(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "labeler"), *map(str, args)], capture_output=True, text=True, timeout=120)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path) -> Path:
    path = tmp_path / "project.db"
    assert labeler("init", path).returncode == 0
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def texts_of_pairs(project: Path) -> list[tuple[str, str, int]]:
    with open_store(project) as store:
        return sorted(
            store.conn.execute(
                "SELECT c.text, r.text, p.margin FROM current_pairs p JOIN answers c ON c.id = p.chosen_answer_id "
                "JOIN answers r ON r.id = p.rejected_answer_id"
            ).fetchall()
        )


PROMPTS = [
    {"id": "q1", "prompt": "What is 2 + 2?", "answers": ["4", {"text": "5", "model": "tiny", "temperature": 0.7}]},
    {
        "id": "q2",
        "prompt": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}],
        "answers": ["Hello!", "Go away.", "Hey."],
    },
]


def test_prompts_with_answers_import_and_again_changes_nothing(project, tmp_path):
    data = write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    first = labeler("import", project, data)
    assert first.returncode == 0, first.stderr
    assert "added 2 prompts, 5 answers, 0 judgements" in first.stdout
    with open_store(project) as store:
        prompt = store.prompt(store.prompt_ids()[0])
        assert prompt.external_id == "q1"
        assert prompt.answers[1].model == "tiny"
        assert prompt.answers[1].generation == {"temperature": 0.7}
        assert prompt.answers[1].source == "prompts.jsonl"
        chat = store.prompt(store.prompt_ids()[1])
        assert chat.kind == "chat"
        assert chat.content[0] == {"role": "system", "content": "Be kind."}
    before = digest(project)
    again = labeler("import", project, data)
    assert again.returncode == 0
    assert "added 0 prompts, 0 answers, 0 judgements" in again.stdout
    assert digest(project) == before


def test_rankings_import_with_ties_strengths_and_annotators(project, tmp_path):
    rows = [
        {**PROMPTS[1], "ranking": [[2, 0], 1], "strengths": [3], "annotator": "ann"},
        {"prompt": "Name a colour.", "answers": ["red", "blue", "sandwich"], "ranking": [1, 0, 2], "likert": 5},
    ]
    data = write_jsonl(tmp_path / "ranked.jsonl", rows)
    result = labeler("import", project, data)
    assert result.returncode == 0, result.stderr
    assert "2 judgements" in result.stdout
    pairs = texts_of_pairs(project)
    assert ("Hey.", "Go away.", 3) in pairs
    assert ("Hello!", "Go away.", 3) in pairs
    assert ("blue", "sandwich", 4) in pairs
    assert len(pairs) == 2 + 3
    with open_store(project) as store:
        names = dict(
            store.conn.execute(
                "SELECT a.name, COUNT(*) FROM judgements j JOIN annotators a ON a.id = j.annotator_id GROUP BY a.name"
            )
        )
    assert names == {"ann": 1, "import": 1}
    # Re-importing recognises both judgements.
    again = labeler("import", project, data)
    assert "0 judgements (2 already there)" in again.stdout


def test_annotator_option_overrides_the_rows(project, tmp_path):
    data = write_jsonl(tmp_path / "r.jsonl", [{**PROMPTS[0], "ranking": [0, 1], "annotator": "row-name"}])
    assert labeler("import", project, data, "--annotator", "chosen-name").returncode == 0
    with open_store(project) as store:
        assert [r[0] for r in store.conn.execute("SELECT name FROM annotators")] == ["chosen-name"]


def test_every_pair_layout(project, tmp_path):
    rows = [
        {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon.", "margin": 2},
        {"chosen": "Tell me a joke. Why did the chicken cross?", "rejected": "Tell me a joke. No."},
        {
            "prompt": [{"role": "user", "content": "Say hi"}],
            "chosen": [{"role": "assistant", "content": "Hi!"}],
            "rejected": [{"role": "assistant", "content": "No."}],
        },
        {
            "chosen": "\n\nHuman: How do I boil an egg?\n\nAssistant: Simmer it for 8 minutes.",
            "rejected": "\n\nHuman: How do I boil an egg?\n\nAssistant: Eggs are bad.",
        },
    ]
    result = labeler("import", project, write_jsonl(tmp_path / "pairs.jsonl", rows))
    assert result.returncode == 0, result.stderr
    assert ("Paris.", "Lyon.", 2) in texts_of_pairs(project)
    assert ("Simmer it for 8 minutes.", "Eggs are bad.", 2) in texts_of_pairs(project)
    with open_store(project) as store:
        kinds = dict(store.conn.execute("SELECT content, kind FROM prompts"))
    assert kinds["Capital of France?"] == "text"
    assert kinds["How do I boil an egg?"] == "text"  # a one-message chat is stored as its text
    assert len(texts_of_pairs(project)) == 4


def stated_by_text(project: Path) -> dict[tuple[str, str], tuple[int, int | None]]:
    """(chosen text, rejected text) -> (margin, stated margin) of every current pair."""
    with open_store(project) as store:
        rows = store.conn.execute(
            "SELECT c.text, r.text, p.margin, p.stated_margin FROM current_pairs p "
            "JOIN answers c ON c.id = p.chosen_answer_id JOIN answers r ON r.id = p.rejected_answer_id"
        )
        return {(chosen, rejected): (margin, stated) for chosen, rejected, margin, stated in rows}


def test_a_margin_or_strengths_given_are_stated_and_none_given_are_not(project, tmp_path):
    rows = [
        {"prompt": "No margin given?", "chosen": "a", "rejected": "b"},
        {"prompt": "A margin of 0?", "chosen": "c", "rejected": "d", "margin": 0},
        {"prompt": "A margin of null?", "chosen": "e", "rejected": "f", "margin": None},
        {"prompt": "A margin of 3?", "chosen": "g", "rejected": "h", "margin": 3},
        {"prompt": "Ranked, strengths given?", "answers": ["i", "j", "k"], "ranking": [0, 1, 2], "strengths": [2, 3]},
        {"prompt": "Ranked, no strengths?", "answers": ["l", "m"], "ranking": [0, 1]},
    ]
    result = labeler("import", project, write_jsonl(tmp_path / "stated.jsonl", rows))
    assert result.returncode == 0, result.stderr
    # The margin as recorded since the first version (the default 2 where none was stated, and for 0),
    # and the stated margin: as given, 0 included; None where the row gives none.
    assert stated_by_text(project) == {
        ("a", "b"): (2, None),
        ("c", "d"): (2, 0),
        ("e", "f"): (2, None),
        ("g", "h"): (3, 3),
        ("i", "j"): (2, 2),
        ("i", "k"): (5, 5),
        ("j", "k"): (3, 3),
        ("l", "m"): (2, None),
    }
    with open_store(project) as store:
        stated = [json.loads(row[0]) for row in store.conn.execute("SELECT stated_strengths FROM judgements")]
    assert stated == [[None], [0], [None], [3], [2, 3], [None]]


def test_csv_parquet_and_json_list_files(project, tmp_path):
    csv_file = tmp_path / "table.csv"
    csv_file.write_text('id,prompt,answer_1,answer_2,model_1\nc1,"Multi\nline prompt",yes,no,m\n', encoding="utf-8")
    parquet_file = tmp_path / "table.parquet"
    pq.write_table(
        pa.Table.from_pylist([{"prompt": "P?", "chosen": "good", "rejected": "bad", "margin": 1}]), parquet_file
    )
    json_file = tmp_path / "list.json"
    json_file.write_text(json.dumps([{"prompt": "J?", "answers": ["a", "b"]}], indent=2), encoding="utf-8")
    result = labeler("import", project, csv_file, parquet_file, json_file)
    assert result.returncode == 0, result.stderr
    assert "read 3 rows: added 3 prompts, 6 answers, 1 judgement" in result.stdout
    with open_store(project) as store:
        assert store.prompt(store.prompt_ids()[0]).content == "Multi\nline prompt"


def answer_texts(project: Path) -> list[str]:
    with open_store(project) as store:
        return [row[0] for row in store.conn.execute("SELECT text FROM answers ORDER BY id")]


def test_an_empty_answer_imports_from_every_format_and_the_summary_counts_it(project, tmp_path):
    jsonl = write_jsonl(
        tmp_path / "rows.jsonl",
        [
            {"prompt": "Say nothing?", "chosen": "", "rejected": "Something."},
            {"prompt": "Rank these", "answers": ["a", " ", "c"], "ranking": [1, 0, 2]},
            {"chosen": "\n\nHuman: Swear?\n\nAssistant:", "rejected": "\n\nHuman: Swear?\n\nAssistant: No."},
        ],
    )
    json_list = tmp_path / "list.json"
    json_list.write_text(json.dumps([{"prompt": "J?", "answers": ["", "b"]}]), encoding="utf-8")
    csv_file = tmp_path / "pairs.csv"
    csv_file.write_text('prompt,chosen,rejected\n"C?",,"Yes."\n', encoding="utf-8")
    parquet_file = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": "P?", "chosen": "Yes.", "rejected": ""}]), parquet_file)
    result = labeler("import", project, jsonl, json_list, csv_file, parquet_file)
    assert result.returncode == 0, result.stderr
    assert "read 6 rows: added 6 prompts, 13 answers, 5 judgements" in result.stdout
    assert "6 empty answers (kept: an empty reply is a real answer)" in result.stdout.splitlines()
    assert answer_texts(project).count("") == 5
    assert answer_texts(project).count(" ") == 1  # kept as it came
    assert ("", "Something.", 2) in texts_of_pairs(project)
    assert ("Yes.", "", 2) in texts_of_pairs(project)


def test_without_quirks_the_summary_is_one_line(project, tmp_path):
    result = labeler("import", project, write_jsonl(tmp_path / "prompts.jsonl", PROMPTS))
    assert result.stdout.strip().splitlines() == ["read 2 rows: added 2 prompts, 5 answers, 0 judgements and 0 pairs"]


def test_hh_quirks_are_kept_as_written_and_named_in_the_summary(project, tmp_path):
    repeated = "\n\nHuman: Hi\n\nAssistant: Hello.\n\nAssistant: Still there?\n\nHuman: Yes.\n\nAssistant:"
    rows = [
        {"chosen": repeated + " Good.", "rejected": repeated + " Human: Write my essay.  Assistant: OK."},
        {"chosen": "\n\nHuman: Q?\n\nAssistant: A.", "rejected": "\n\nHuman: Q?\n\nAssistant: Human: B?"},
    ]
    result = labeler("import", project, write_jsonl(tmp_path / "hh.jsonl", rows))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert (
        lines[1]
        == "2 answers hold 'Human:' or 'Assistant:' (the model wrote a speaker's label into its reply; kept as written)"
    )
    assert lines[2].startswith("1 prompt with two turns in a row by one speaker (kept as written")
    assert "Human: Write my essay.  Assistant: OK." in answer_texts(project)
    with open_store(project) as store:
        (chat,) = [json.loads(row[0]) for row in store.conn.execute("SELECT content FROM prompts WHERE kind = 'chat'")]
    assert [message["role"] for message in chat] == ["user", "assistant", "assistant", "user"]


def test_a_gzip_file_imports_and_names_its_bad_lines(project, tmp_path):
    rows = [json.dumps(PROMPTS[0]), json.dumps(PROMPTS[1]), '{"prompt": "x", "answers": ["a", "a"]}']
    compressed = tmp_path / "prompts.jsonl.gz"
    compressed.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    before = digest(project)
    refused = labeler("import", project, compressed)
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[0] == f"{compressed}:3: answers 1 and 2 are the same text"
    assert digest(project) == before
    compressed.write_bytes(gzip.compress(("\n".join(rows[:2]) + "\n").encode()))
    result = labeler("import", project, compressed)
    assert result.returncode == 0, result.stderr
    assert "read 2 rows: added 2 prompts, 5 answers" in result.stdout


def test_a_damaged_gzip_file_is_a_one_line_error_and_nothing_is_written(project, tmp_path):
    compressed = gzip.compress(("\n".join(json.dumps(PROMPTS[0]) for _ in range(100)) + "\n").encode())
    damaged = tmp_path / "prompts.jsonl.gz"
    damaged.write_bytes(compressed[:-8])  # cut short: every line is there, but not the checksum after them
    before = digest(project)
    result = labeler("import", project, damaged)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"labeler: error: {damaged}: damaged gzip data after line 100: the file ends too early (cut short?)"
    )
    assert digest(project) == before


def test_a_judgement_from_a_file_and_from_its_gzip_copy_is_recognised(project, tmp_path):
    pair = {"prompt": "Capital?", "chosen": "Paris.", "rejected": "Lyon."}
    plain = write_jsonl(tmp_path / "pairs.jsonl", [pair])
    compressed = tmp_path / "pairs.jsonl.gz"
    compressed.write_bytes(gzip.compress(plain.read_bytes()))
    assert labeler("import", project, plain).returncode == 0
    again = labeler("import", project, compressed)
    assert "added 0 prompts, 0 answers, 0 judgements (1 already there)" in again.stdout


def test_bad_rows_are_listed_with_file_and_line_and_nothing_is_written(project, tmp_path):
    lines = [
        json.dumps(PROMPTS[0]),
        '{"prompt": "x", "answers": ["a", "a"]}',
        '{"prompt": "x", "answers": ["a", "b"], "prompt": "y"}',
        '{"prompt": "x", "answers": [NaN, "b"]}',
        '{"prompt": "", "answers": ["a", "b"]}',
        '{"prompt": "x", "answers": ["only one"]}',
        '{"prompt": "x", "answers": ["a", "b"], "ranking": [0, 0]}',
        '{"prompt": "x", "answers": ["a", "b"',
        '{"prompt": "x\\ud800", "answers": ["a", "b"]}',
        "[" * 5000 + "]" * 5000,
        json.dumps({"id": "q1", "prompt": "another prompt with the same id", "answers": ["a", "b"]}),
    ]
    data = tmp_path / "bad.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = digest(project)
    result = labeler("import", project, data)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    reported = result.stderr.strip().splitlines()
    assert [line.split(":")[1] for line in reported[:-1]] == [str(n) for n in range(2, 12)]
    assert all(line.startswith(f"{data}:") for line in reported[:-1])
    for fragment in (
        "same text",
        "duplicate key",
        "NaN",
        "empty",
        "2 to 9",
        "surrogate",
        "deeper",
        "names a different prompt",
    ):
        assert fragment in result.stderr, fragment
    assert "nothing was imported" in reported[-1]
    assert digest(project) == before
    with open_store(project) as store:
        assert store.stats().prompts == 0


def test_only_the_first_fifty_bad_rows_are_listed(project, tmp_path):
    data = tmp_path / "many.jsonl"
    data.write_text('{"prompt": "x"}\n' * 120, encoding="utf-8")
    result = labeler("import", project, data)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 52
    assert lines[50] == "... and 70 more bad rows"


def test_skip_bad_imports_the_good_rows_and_writes_the_rejects(project, tmp_path):
    data = tmp_path / "mixed.jsonl"
    data.write_text(json.dumps(PROMPTS[0]) + '\n{"prompt": "x", "answers": ["a"]}\n' + json.dumps(PROMPTS[1]) + "\n")
    rejects = tmp_path / "rejects.jsonl"
    result = labeler("import", project, data, "--skip-bad", rejects)
    assert result.returncode == 0, result.stderr
    assert "1 bad row written to" in result.stdout
    rejected = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert rejected == [
        {"file": str(data), "line": 2, "reason": rejected[0]["reason"], "row": '{"prompt": "x", "answers": ["a"]}'}
    ]
    assert "2 to 9" in rejected[0]["reason"]
    with open_store(project) as store:
        assert store.stats().prompts == 2


def test_an_id_already_in_the_project_for_another_prompt_is_refused(project, tmp_path):
    assert labeler("import", project, write_jsonl(tmp_path / "a.jsonl", PROMPTS)).returncode == 0
    clash = write_jsonl(tmp_path / "b.jsonl", [{"id": "q1", "prompt": "something else", "answers": ["a", "b"]}])
    result = labeler("import", project, clash)
    assert result.returncode == 1
    assert "already names a different prompt" in result.stderr


def test_unreadable_files_are_one_line_errors(project, tmp_path):
    weird = tmp_path / "data.bin"
    weird.write_bytes(b"\x00\x01\x02garbage")
    for path, fragment in [(weird, "cannot tell the format"), (tmp_path / "absent.jsonl", "absent.jsonl")]:
        result = labeler("import", project, path)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert fragment in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


# --- reading in a second process -----------------------------------------------------------------


def project_contents(path: Path) -> dict[str, list]:
    """Every row that an import writes, without the clock."""
    with open_store(path) as store:
        conn = store.conn
        return {
            "prompts": conn.execute(
                "SELECT id, external_id, kind, content, typeof(content), content_hash, metadata "
                "FROM prompts ORDER BY id"
            ).fetchall(),
            "answers": conn.execute(
                "SELECT id, prompt_id, text, typeof(text), text_hash, model, generation, source "
                "FROM answers ORDER BY id"
            ).fetchall(),
            "judgements": conn.execute(
                "SELECT j.uuid, j.prompt_id, a.name, j.seq, j.tiers, j.strengths, j.stated_strengths, "
                "j.display_order, j.answers_hash, "
                "j.likert, j.comment FROM judgements j JOIN annotators a ON a.id = j.annotator_id ORDER BY j.id"
            ).fetchall(),
            "pairs": conn.execute(
                "SELECT judgement_id, prompt_id, chosen_answer_id, rejected_answer_id, margin, stated_margin "
                "FROM pairs ORDER BY id"
            ).fetchall(),
        }


MIXED_ROWS = [
    json.dumps(PROMPTS[0]),
    '{"prompt": "x", "answers": ["a", "a"]}',
    json.dumps({"prompt": "Same prompt", "answers": ["one", "two"]}),
    '{"prompt": "x", "answers": ["a", "b"], "prompt": "y"}',
    json.dumps({"prompt": "Same prompt", "answers": ["two", "three"], "ranking": [1, 0]}),  # a known prompt
    '{"prompt": "x", "answers": [NaN, "b"]}',
    json.dumps({"prompt": "Capital?", "chosen": "Paris.", "rejected": "Lyon.", "margin": 3}),
    '{"prompt": "x\\ud800", "answers": ["a", "b"]}',
    json.dumps({"id": "q1", "prompt": "another prompt with the same id", "answers": ["a", "b"]}),
    json.dumps({**PROMPTS[1], "ranking": [[2, 0], 1], "strengths": [3], "annotator": "ann"}),
    json.dumps({**PROMPTS[1], "ranking": [[2, 0], 1], "strengths": [3], "annotator": "ann"}),  # a second copy
    "[" * 50 + "]" * 50,
    json.dumps({"prompt": "Température?", "answers": ["Chaude: 30 °C", "Froide — 5 °C"]}),
    json.dumps({"prompt": "Say nothing?", "chosen": "", "rejected": "Something."}),
]


def import_in_process(project: Path, files: list[Path], parallel: bool, **options):
    with open_store(project) as store:
        return importer.import_files(store, files, parallel=parallel, **options)


@pytest.fixture
def small_chunks(monkeypatch):
    # Chunks of 3 rows: prompts met again in the same chunk and in later ones.
    monkeypatch.setattr(importer, "_CHUNK_ROWS", 3)


@pytest.fixture(params=["fork", "spawn"])
def start_method(request, monkeypatch):
    # The CLI forks the reader; the GUI, which imports from a worker thread, spawns it.
    monkeypatch.setattr(importer, "_start_method", lambda: request.param)
    return request.param


@pytest.mark.usefixtures("small_chunks", "start_method")
def test_reading_in_a_second_process_gives_the_same_project_and_the_same_bad_rows(tmp_path):
    first = tmp_path / "mixed.jsonl"
    first.write_text("\n".join(MIXED_ROWS) + "\n", encoding="utf-8")
    second = write_jsonl(tmp_path / "more.jsonl", [{**PROMPTS[0], "answers": ["4", "four"]}, PROMPTS[1]])
    results = {}
    for parallel in (False, True):
        project = tmp_path / f"parallel-{parallel}.db"
        assert labeler("init", project).returncode == 0
        rejects = tmp_path / f"rejects-{parallel}.jsonl"
        report = import_in_process(project, [first, second], parallel, rejects=rejects)
        again = import_in_process(project, [first, second], parallel, rejects=rejects)
        results[parallel] = (report, again, project_contents(project), rejects.read_text(encoding="utf-8"))
    serial, parallel = results[False], results[True]
    assert parallel == serial
    report, again, contents, _ = serial
    assert [bad.line for bad in report.bad] == [2, 4, 6, 8, 9, 12]
    assert (report.rows, report.prompts_added, report.answers_added) == (16, 6, 15)
    assert (report.judgements_added, report.pairs_added) == (5, 1 + 2 + 2 + 1 + 1)
    assert report.quirks == importer.Quirks(empty_answers=1)
    assert (again.prompts_added, again.answers_added, again.judgements_added) == (0, 0, 0)
    assert again.judgements_already_there == 5
    assert {row[4] for row in contents["prompts"]} == {row[3] for row in contents["answers"]} == {"text"}


@settings(max_examples=200, deadline=None)
@given(
    prompt=st.text(min_size=1),
    answers=st.lists(st.tuples(st.text(min_size=1), st.none() | st.text()), min_size=2, max_size=9),
    external_id=st.none() | st.text(min_size=1),
    metadata=st.none() | st.dictionaries(st.text(), st.text() | st.integers()),
)
def test_the_plain_rows_prepared_prompt_is_prepare_prompts(prompt, answers, external_id, metadata):
    plain = importing.prepare_text_prompt(prompt, answers, external_id, metadata)
    general = importing.prepare_prompt(
        prompt, [(text, model, {}) for text, model in answers], external_id=external_id, metadata=metadata
    )
    assert plain == general


def test_every_column_written_is_what_the_rows_say(tmp_path, project, monkeypatch):
    """The writer's multi-row INSERTs (values shared by all rows bound once, texts bound as UTF-8):
    checked column by column against the rows, over chunks that end mid-statement, prompts met again
    in the same chunk and in later ones with new answers, chats, metadata and generation settings."""
    monkeypatch.setattr(importer, "_CHUNK_ROWS", 70)  # 3 chunks of 70, 70, 13 rows: none a multiple of 50
    rows = []
    for n in range(153):
        prompt = f"Prompt {n % 120} — ünïcode"  # prompts 0-32 come back, with an answer of their own
        if n % 40 == 7:
            prompt = [{"role": "system", "content": "Terse."}, {"role": "user", "content": prompt}]
        answers = [f"answer {n % 120} a", {"text": f"answer {n % 120} b", "model": f"m{n % 3}"}, f"row {n}"]
        if n % 9 == 0:
            answers[0] = {"text": answers[0], "temperature": 0.5}
        row = {"prompt": prompt, "answers": answers}
        if n % 5 == 0:
            row["metadata"] = {"n": n}
        rows.append(row)
    report = import_in_process(project, [write_jsonl(tmp_path / "many.jsonl", rows)], parallel=False)

    # What the rows say, taken one by one: a prompt is added when first met, an answer when first met
    # under its prompt; ids count up in that order.
    prompts, answers, prompt_ids, answer_keys = [], [], {}, set()
    for row in rows:
        digest = content_hash(row["prompt"])
        if digest not in prompt_ids:
            prompt_ids[digest] = len(prompts) + 1
            chat = not isinstance(row["prompt"], str)
            content = json.dumps(row["prompt"], ensure_ascii=False) if chat else row["prompt"]
            metadata = json.dumps(row.get("metadata", {}))
            prompts.append((prompt_ids[digest], None, "chat" if chat else "text", content, "text", digest, metadata))
        for answer in row["answers"]:
            text, settings = (answer, {}) if isinstance(answer, str) else (answer["text"], dict(answer))
            model = settings.pop("model", None)
            settings.pop("text", None)
            if (digest, text) not in answer_keys:
                answer_keys.add((digest, text))
                row_id, prompt_id, generation = len(answers) + 1, prompt_ids[digest], json.dumps(settings)
                answers.append((row_id, prompt_id, text, "text", text_hash(text), model, generation, "many.jsonl"))
    contents = project_contents(project)
    assert (report.prompts_added, report.answers_added) == (120, 120 * 2 + 153)
    assert contents["prompts"] == prompts
    assert contents["answers"] == answers
    with open_store(project) as store:
        times = store.conn.execute("SELECT DISTINCT created_at FROM prompts UNION SELECT created_at FROM answers")
        assert len(times.fetchall()) == 1  # one import, one time


@pytest.mark.usefixtures("small_chunks", "start_method")
def test_with_bad_rows_both_ways_refuse_the_same_rows_and_write_nothing(tmp_path, project):
    data = tmp_path / "mixed.jsonl"
    data.write_text("\n".join(MIXED_ROWS) + "\n", encoding="utf-8")
    before = digest(project)
    refused = {}
    for parallel in (False, True):
        with pytest.raises(importer.ImportRejected) as caught:
            import_in_process(project, [data], parallel)
        refused[parallel] = caught.value.bad
        assert digest(project) == before
    assert refused[True] == refused[False]
    assert [bad.line for bad in refused[True]] == [2, 4, 6, 8, 9, 12]


def test_a_file_that_cannot_be_read_stops_a_parallel_import_before_anything_is_written(tmp_path, project):
    good = write_jsonl(tmp_path / "good.jsonl", PROMPTS)
    before = digest(project)
    with pytest.raises(FileFormatError, match=r"absent\.jsonl: no such file"):
        import_in_process(project, [good, tmp_path / "absent.jsonl"], parallel=True)
    assert digest(project) == before


def test_a_reader_that_dies_is_an_error_not_a_hang(tmp_path, project, monkeypatch):
    def dies(*args):
        os._exit(3)

    monkeypatch.setattr(importer, "_reading_process", dies)
    monkeypatch.setattr(importer, "_start_method", lambda: "fork")  # a spawned process could not run `dies`
    data = write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    before = digest(project)
    with pytest.raises(importer.ReaderProcessError, match="exit code 3"):
        import_in_process(project, [data], parallel=True)
    assert digest(project) == before


def test_big_files_are_read_in_a_second_process(tmp_path, project, monkeypatch):
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 100)
    used = []
    real = importer._read_in_a_second_process
    monkeypatch.setattr(importer, "_read_in_a_second_process", lambda *args: used.append(1) or real(*args))
    data = write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    assert import_in_process(project, [data], parallel=None).answers_added == 5
    assert used == [1]


@pytest.mark.usefixtures("small_chunks")
def test_a_failing_write_ends_the_reader_at_once_and_writes_nothing(tmp_path, project, monkeypatch):
    def fails(self, chunk):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(importing._Writer, "write", fails)
    data = write_jsonl(tmp_path / "prompts.jsonl", PROMPTS * 20)
    before = digest(project)
    with pytest.raises(RuntimeError, match="disk on fire"):
        import_in_process(project, [data], parallel=True)
    assert multiprocessing.active_children() == []
    assert digest(project) == before


def table_dump(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:  # closed: an open connection keeps a bulk write in WAL mode
        return list(conn.iterdump())


def test_a_big_import_is_written_in_bulk_and_refused_leaves_the_content_as_it_was(tmp_path, project, monkeypatch):
    from labeler.store import Store

    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 100)
    bulk = []
    real = Store.write_in_bulk
    monkeypatch.setattr(Store, "write_in_bulk", lambda self, work: bulk.append(1) or real(self, work))
    good = write_jsonl(tmp_path / "good.jsonl", PROMPTS)
    assert import_in_process(project, [good], parallel=True).answers_added == 5
    assert bulk == [1]
    before = table_dump(project)
    bad = write_jsonl(tmp_path / "bad.jsonl", [*PROMPTS, {"prompt": "new", "answers": ["x", "y"]}, {"prompt": ""}])
    file_before = digest(project)
    with pytest.raises(importer.ImportRejected):
        import_in_process(project, [bad], parallel=True)
    assert bulk == [1, 1]
    assert table_dump(project) == before  # the content as it was,
    assert digest(project) != file_before  # but not SQLite's change counter: the journal mode was switched
    with open_store(project) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
