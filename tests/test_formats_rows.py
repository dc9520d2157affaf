"""Rows into typed items: prompts with answers, rankings, and pairs in every TRL and HH layout."""

import datetime
import json
import re
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeler.formats.plain_rows import plain_prompt_row
from labeler.formats.reading import read_rows
from labeler.formats.row_items import ImportedAnswer, ImportedPair, ImportedPrompt, ImportedRanking, RowError
from labeler.formats.rows import parse_row, row_kind
from labeler.formats.source_rows import BadRow, SourceRow

ANSWERS = ["Paris.", "Lyon.", "Marseille."]
PROMPT_ROW = {"prompt": "Capital of France?", "answers": ANSWERS}
USER = {"role": "user", "content": "What color is the sky?"}


def parse_error(data: dict, fmt: str = "jsonl") -> str:
    with pytest.raises(RowError) as caught:
        parse_row(data, fmt)
    return str(caught.value)


# --- prompts with answers ----------------------------------------------------------------------


def test_a_prompt_with_answers_as_text_and_as_objects():
    item = parse_row(
        {
            "id": 7,
            "prompt": "Capital of France?",
            "answers": [
                "Paris.",
                {"text": "Lyon.", "model": " gpt-x ", "temperature": 0.7, "seed": None},
                {"text": "Marseille.", "model": None},
            ],
            "metadata": {"source": "quiz"},
            "ignored": "unknown keys are ignored",
        },
        "jsonl",
    )
    assert item == ImportedPrompt(
        prompt="Capital of France?",
        answers=(
            ImportedAnswer("Paris."),
            ImportedAnswer("Lyon.", "gpt-x", {"temperature": 0.7}),
            ImportedAnswer("Marseille."),
        ),
        external_id="7",
        metadata={"source": "quiz"},
    )


def test_a_chat_prompt_becomes_a_tuple_of_messages():
    chat = [{"role": "system", "content": "Be brief."}, USER]
    item = parse_row({"prompt": chat, "answers": ["Blue.", "Grey."], "id": "q-1"}, "json")
    assert item.prompt == tuple(chat)
    assert item.external_id == "q-1"


REJECTED_ROWS = [
    ({"answers": ANSWERS}, "the prompt is missing"),
    ({"prompt": " \n", "answers": ANSWERS}, "the prompt is empty"),
    ({"prompt": 5, "answers": ANSWERS}, "the prompt must be text or a list of chat messages, got a number"),
    ({"prompt": [], "answers": ANSWERS}, "the prompt is an empty chat"),
    ({"prompt": ["hi"], "answers": ANSWERS}, "message 1 of the prompt must be an object, got text"),
    (
        {"prompt": [USER, {"role": "user"}], "answers": ANSWERS},
        "message 2 of the prompt must have exactly 'role' and 'content', got ['role']",
    ),
    (
        {"prompt": [{**USER, "name": "bob"}], "answers": ANSWERS},
        "message 1 of the prompt must have exactly 'role' and 'content', got ['content', 'name', 'role']",
    ),
    (
        {"prompt": [{"role": "tool", "content": "x"}], "answers": ANSWERS},
        "message 1 of the prompt has role 'tool'; roles are system, user, assistant",
    ),
    (
        {"prompt": [{"role": "user", "content": 3}], "answers": ANSWERS},
        "the content of message 1 of the prompt must be text, got a number",
    ),
    ({"prompt": [{"role": "user", "content": " "}], "answers": ANSWERS}, "the prompt is empty"),
    ({"prompt": "q"}, "a row needs 'prompt' and 'answers', or 'chosen' and 'rejected'"),
    ({"prompt": "q", "answers": "a, b"}, "answers must be a list, got text"),
    ({"prompt": "q", "answers": ["only one"]}, "2 to 9 answers, got 1"),
    ({"prompt": "q", "answers": [f"a{i}" for i in range(10)]}, "2 to 9 answers, got 10"),
    ({"prompt": "q", "answers": ["a", "", " \t"]}, "answers 2 and 3 are the same text (both empty)"),
    ({"prompt": "q", "answers": ["same", "other", "same\n"]}, "answers 1 and 3 are the same text"),
    ({"prompt": "q", "answers": [{"model": "m"}, "b"]}, "answer 1 has no 'text'"),
    ({"prompt": "q", "answers": ["a", {"text": 5}]}, "the text of answer 2 must be text, got a number"),
    ({"prompt": "q", "answers": [5, "b"]}, "answer 1 must be text or an object with 'text', got a number"),
    (
        {"prompt": "q", "answers": [{"text": "a", "model": 3}, "b"]},
        "the model of answer 1 must be text, got a number",
    ),
    ({**PROMPT_ROW, "id": True}, "id must be text or a whole number, got true/false"),
    ({**PROMPT_ROW, "id": 1.5}, "id must be text or a whole number, got a number"),
    ({**PROMPT_ROW, "id": " "}, "the id is empty"),
    ({**PROMPT_ROW, "metadata": ["x"]}, "metadata must be an object, got a list"),
    (
        {**PROMPT_ROW, "ranking": [0, 1, 1]},
        "bad ranking of answers 0 to 2: answers placed more than once: [1]",
    ),
    (
        {**PROMPT_ROW, "ranking": [0, 1]},
        "bad ranking of answers 0 to 2: answers not placed in the ranking: [2]",
    ),
    ({**PROMPT_ROW, "ranking": [0, 1, 3]}, "ranking names answer index 3, but the 3 answers are 0 to 2"),
    (
        {**PROMPT_ROW, "ranking": [[0, -1], 1, 2]},
        "ranking names answer index -1, but the 3 answers are 0 to 2",
    ),
    ({**PROMPT_ROW, "ranking": ["0", 1, 2]}, "ranking must hold 0-based answer indices, got '0'"),
    ({**PROMPT_ROW, "ranking": [1.0, 0, 2]}, "ranking must hold 0-based answer indices, got 1.0"),
    ({**PROMPT_ROW, "ranking": [[], 0, 1, 2]}, "bad ranking of answers 0 to 2: a tier of a ranking is empty"),
    (
        {**PROMPT_ROW, "ranking": "0 1 2"},
        "ranking must be a list of answer indices, best first (a nested list is a tie)",
    ),
    (
        {**PROMPT_ROW, "ranking": [0, 1, 2], "strengths": [2]},
        "bad ranking of answers 0 to 2: 3 tiers need 2 strengths, got 1",
    ),
    (
        {**PROMPT_ROW, "ranking": [0, 1, 2], "strengths": [2, 4]},
        "strengths must be 1, 2 or 3, got 4",
    ),
    ({**PROMPT_ROW, "ranking": [0, 1, 2], "strengths": [0, 2]}, "strengths must be 1, 2 or 3, got 0"),
    (
        {**PROMPT_ROW, "ranking": [0, 1, 2], "strengths": [2, 1.5]},
        "strengths must be a list of 1, 2 or 3, one between each two tiers",
    ),
    (
        {**PROMPT_ROW, "ranking": [0, 1, 2], "stated_strengths": [None, 4]},
        "stated_strengths must be 0, 1, 2 or 3 (or null), got 4",
    ),
    (
        {**PROMPT_ROW, "ranking": [0, 1, 2], "stated_strengths": [None]},
        "bad ranking of answers 0 to 2: 3 tiers need 2 stated_strengths, got 1",
    ),
    (
        {**PROMPT_ROW, "ranking": [0, 1, 2], "strengths": [3, 2], "stated_strengths": [None, 2]},
        "strengths [3, 2] do not go with stated_strengths [None, 2]: those record strengths [2, 2] "
        "(2 where none was stated, or 0)",
    ),
    ({**PROMPT_ROW, "ranking": [0, 1, 2], "likert": 8}, "likert must be a whole number from 1 to 7, got 8"),
    (
        {**PROMPT_ROW, "ranking": [0, 1, 2], "likert": 4.5},
        "likert must be a whole number from 1 to 7, got 4.5",
    ),
    ({**PROMPT_ROW, "ranking": [0, 1, 2], "annotator": 5}, "annotator must be text, got a number"),
    ({**PROMPT_ROW, "ranking": [0, 1, 2], "annotator": " "}, "the annotator name is empty"),
    ({**PROMPT_ROW, "ranking": [0, 1, 2], "comment": ["x"]}, "comment must be text, got a list"),
    ({"prompt": "q", "chosen": "same", "rejected": "same"}, "chosen and rejected are the same text"),
    ({"prompt": "q", "chosen": "same", "rejected": " same\n"}, "chosen and rejected are the same text"),
    (
        {"prompt": "q", "chosen": "a"},
        "a pair needs both 'chosen' and 'rejected'; 'rejected' is missing",
    ),
    ({"prompt": "q", "chosen": "", "rejected": " "}, "chosen and rejected are the same text (both empty)"),
    ({"prompt": "q", "chosen": "", "rejected": ""}, "chosen and rejected are the same text (both empty)"),
    ({"prompt": "", "chosen": "a", "rejected": "b"}, "the prompt is empty"),
    (
        {"prompt": "q", "chosen": "a", "rejected": "b", "margin": -1},
        "margin must be a whole number, 0 or more, got -1",
    ),
    (
        {"prompt": "q", "chosen": "a", "rejected": "b", "margin": 1.5},
        "margin must be a whole number, 0 or more, got 1.5",
    ),
    (
        {"prompt": "q", "chosen": "a", "rejected": "b", "margin": "2"},
        "margin must be a whole number, 0 or more, got '2'",
    ),
    ({"prompt": "q", "chosen": "a", "rejected": "b", "annotator": 1}, "annotator must be text, got a number"),
    (
        {"prompt": "q", "chosen": "a", "rejected": [USER]},
        "chosen and rejected must both be text or both be lists of chat messages, got text and a list",
    ),
    (
        {**PROMPT_ROW, "chosen": "a", "rejected": "b"},
        "a row has either 'answers' or 'chosen' and 'rejected', not both",
    ),
    (
        {"chosen": "Yes, it is.", "rejected": "No."},
        "chosen and rejected share no prompt: no common beginning that ends at a space, "
        "a newline or '\\n\\nAssistant:'",
    ),
    (
        {"chosen": "\n\nHuman: hi\n\nAssistant:", "rejected": "\n\nHuman: hi\n\nAssistant: "},
        "chosen and rejected are the same text (both empty)",
    ),
    (
        {"prompt": [USER], "chosen": [], "rejected": [{"role": "assistant", "content": "Blue."}]},
        "chosen is an empty chat",
    ),
    (
        {
            "chosen": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: bye\n\nAssistant: ciao",
            "rejected": "\n\nHuman: hi\n\nAssistant: go away\n\nHuman: bye\n\nAssistant: ciao",
        },
        "chosen and rejected differ before their last Assistant turn",
    ),
    (
        {
            "chosen": "\n\nHuman: hi\n\nAssistant: hello\n\nAssistant: again",
            "rejected": "\n\nHuman: hi\n\nAssistant: hello\n\nAssistant: once more",
        },
        "the conversation before the answers does not end with a Human turn",
    ),
    (
        {
            "chosen": [USER, {"role": "assistant", "content": "Blue."}],
            "rejected": [{**USER, "content": "Other?"}, {"role": "assistant", "content": "Grey."}],
        },
        "without a prompt, chosen and rejected must be one conversation up to their last message",
    ),
    (
        {
            "chosen": [USER, {"role": "user", "content": "Blue?"}],
            "rejected": [USER, {"role": "user", "content": "X"}],
        },
        "the last message of chosen must be from the assistant, got 'user'",
    ),
    (
        {"prompt": [USER], "chosen": [{"role": "user", "content": "Blue."}], "rejected": [USER]},
        "chosen must hold assistant messages only; message 1 is from 'user'",
    ),
]


@pytest.mark.parametrize(("data", "reason"), REJECTED_ROWS)
def test_a_row_that_breaks_a_rule_is_refused_with_the_reason(data, reason):
    assert parse_error(data) == reason


def test_every_refused_row_is_reported_at_its_file_and_line(tmp_path):
    """What an importer does: read_rows gives each row's line, parse_row the reason."""
    path = tmp_path / "rows.jsonl"
    lines = [json.dumps(PROMPT_ROW)] + [json.dumps(data) for data, _ in REJECTED_ROWS]
    path.write_text("\n\n".join(lines) + "\n")
    reported = {}
    for row in read_rows(path):
        assert isinstance(row, SourceRow)
        assert row.file == str(path)
        try:
            parse_row(row.data, "jsonl")
        except RowError as err:
            reported[row.line] = str(err)
    assert reported == {3 + 2 * index: reason for index, (_, reason) in enumerate(REJECTED_ROWS)}


def test_parse_row_refuses_an_unknown_format_name():
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        parse_row(PROMPT_ROW, "xml")


# --- rankings ----------------------------------------------------------------------------------


def test_a_ranking_with_a_tie_and_default_strengths():
    item = parse_row(
        {"prompt": "q", "answers": ["a", "b", "c", "d"], "ranking": [[2, 0], 1, 3], "annotator": " ana "},
        "jsonl",
    )
    assert isinstance(item, ImportedRanking)
    assert item.prompt.answers[2] == ImportedAnswer("c")
    assert item.tiers == ((2, 0), (1,), (3,))
    assert item.stated_strengths == (None, None)  # none given: none stated
    assert (item.annotator, item.likert, item.comment) == ("ana", None, "")


def test_a_ranking_with_strengths_likert_and_comment():
    item = parse_row(
        {**PROMPT_ROW, "ranking": [1, [0, 2]], "strengths": [3], "likert": 6.0, "comment": "Lyon? really?"},
        "parquet",
    )
    assert (item.tiers, item.stated_strengths, item.likert, item.comment) == (
        ((1,), (0, 2)),
        (3,),
        6,
        "Lyon? really?",
    )
    assert item.annotator is None


# --- pairs -------------------------------------------------------------------------------------


def test_a_standard_pair_with_margin_and_annotator():
    item = parse_row({"prompt": "q", "chosen": "good", "rejected": "bad", "margin": 3, "annotator": "bo"}, "jsonl")
    assert item == ImportedPair("q", "good", "bad", 3, "bo")


@pytest.mark.parametrize(("margin", "expected"), [(None, None), (0, 0), (0.0, 0), (2.0, 2), (5, 5)])
def test_a_margin_given_is_stated_as_given_zero_included(margin, expected):
    stated = parse_row({"prompt": "q", "chosen": "a", "rejected": "b", "margin": margin}, "json").margin
    assert (stated, type(stated)) == (expected, type(expected))


def test_a_pair_without_a_margin_states_none():
    assert parse_row({"prompt": "q", "chosen": "a", "rejected": "b"}, "json").margin is None


def test_stated_strengths_say_which_steps_were_stated_and_strengths_must_go_with_them():
    # What `labeler export --format rankings` writes: strengths as recorded, stated_strengths as stated.
    row = {**PROMPT_ROW, "ranking": [0, 1, 2], "strengths": [2, 3], "stated_strengths": [None, 3]}
    assert parse_row(row, "jsonl").stated_strengths == (None, 3)
    # A pair's stated "no margin" (0) records the default, 2; stated_strengths alone is enough.
    assert parse_row({**row, "strengths": [2, 2], "stated_strengths": [0, 2]}, "jsonl").stated_strengths == (0, 2)
    assert parse_row({**row, "strengths": None, "stated_strengths": [0, None]}, "jsonl").stated_strengths == (0, None)


def test_an_implicit_prompt_is_the_shared_beginning_cut_at_whitespace():
    item = parse_row(
        {
            "chosen": "Question: what is 2+2?\nAnswer: four",
            "rejected": "Question: what is 2+2?\nAnswer: fourty",
        },
        "jsonl",
    )
    assert item == ImportedPair("Question: what is 2+2?\nAnswer: ", "four", "fourty", None, None)


def test_an_anthropic_hh_transcript_becomes_a_chat_ending_with_the_user():
    shared = (
        "\n\nHuman: What is a good way to learn Spanish?"
        "\n\nAssistant: Do you want to speak it, or mostly read it?"
        "\n\nHuman: Speak it, mostly.\n\nAssistant:"
    )
    item = parse_row(
        {
            "chosen": shared + " I would practise with a partner every day.\n\nAnd listen to podcasts.",
            "rejected": shared + " I would just move to Spain.",
        },
        "jsonl",
    )
    assert item == ImportedPair(
        prompt=(
            {"role": "user", "content": "What is a good way to learn Spanish?"},
            {"role": "assistant", "content": "Do you want to speak it, or mostly read it?"},
            {"role": "user", "content": "Speak it, mostly."},
        ),
        chosen="I would practise with a partner every day.\n\nAnd listen to podcasts.",
        rejected="I would just move to Spain.",
        margin=None,
        annotator=None,
    )


def test_a_shared_assistant_marker_without_human_turns_keeps_a_text_prompt():
    item = parse_row({"chosen": "Notes\n\nAssistant: yes", "rejected": "Notes\n\nAssistant: no"}, "jsonl")
    assert (item.prompt, item.chosen, item.rejected) == ("Notes\n\nAssistant:", "yes", "no")


def test_a_conversational_pair_with_a_prompt():
    item = parse_row(
        {
            "prompt": [USER],
            "chosen": [{"role": "assistant", "content": "Blue."}],
            "rejected": [{"role": "assistant", "content": "Green."}],
        },
        "jsonl",
    )
    assert item == ImportedPair((USER,), "Blue.", "Green.", None, None)


def test_a_conversational_pair_without_a_prompt_shares_its_leading_messages():
    system = {"role": "system", "content": "Be brief."}
    item = parse_row(
        {
            "chosen": [system, USER, {"role": "assistant", "content": "Blue."}],
            "rejected": [system, USER, {"role": "assistant", "content": "Green."}],
            "annotator": "cy",
        },
        "parquet",
    )
    assert item == ImportedPair((system, USER), "Blue.", "Green.", None, "cy")


def test_hh_answers_holding_a_speaker_label_are_kept_as_written_and_counted():
    shared = "\n\nHuman: Rob a house?\n\nAssistant:"
    chosen = " Human: I can help.  Human: Great!\n\nAssistant: Start small."
    item = parse_row({"chosen": shared + chosen, "rejected": shared + " No."}, "jsonl")
    assert (item.chosen, item.rejected) == (chosen.lstrip(), "No.")
    assert item.answers_with_speaker_labels == 1
    # Only an HH transcript's labels are counted: elsewhere "Human:" is just text.
    assert parse_row({"prompt": "q", "chosen": "Human: x", "rejected": "y"}, "jsonl").answers_with_speaker_labels == 0


# --- empty answers: a real answer (a policy can say nothing, an annotator can prefer that) --------

HH_PROMPT = "\n\nHuman: list of profane bad words\n\nAssistant:"


@pytest.mark.parametrize(
    ("data", "texts"),
    [
        ({"prompt": "q", "answers": ["", "b"]}, ("", "b")),
        ({"prompt": "q", "answers": [{"text": " \t", "model": "m"}, "b"]}, (" \t", "b")),
        ({"prompt": "q", "answers": ["a", "", "c"], "ranking": [1, 0, 2]}, ("a", "", "c")),
        ({"prompt": "q", "chosen": "", "rejected": "b"}, ("", "b")),
        ({"prompt": "q", "chosen": "a", "rejected": "\n"}, ("a", "\n")),
        (
            {
                "prompt": [USER],
                "chosen": [{"role": "assistant", "content": ""}],
                "rejected": [{"role": "assistant", "content": "Blue."}],
            },
            ("", "Blue."),
        ),
        (
            {
                "chosen": [USER, {"role": "assistant", "content": "Blue."}],
                "rejected": [USER, {"role": "assistant", "content": " "}],
            },
            ("Blue.", " "),
        ),
        ({"chosen": "Question? ", "rejected": "Question? Answer."}, ("", "Answer.")),
        # As in HH-RLHF (harmless-base test rows): the worker preferred the assistant saying nothing.
        ({"chosen": HH_PROMPT + " ", "rejected": HH_PROMPT + " I won't list those."}, ("", "I won't list those.")),
        ({"chosen": HH_PROMPT, "rejected": HH_PROMPT + " Sure: ..."}, ("", "Sure: ...")),
    ],
)
def test_an_empty_answer_is_imported_in_every_layout(data, texts):
    item = parse_row(data, "jsonl")
    if isinstance(item, ImportedPair):
        assert (item.chosen, item.rejected) == texts
    else:
        answers = item.prompt.answers if isinstance(item, ImportedRanking) else item.answers
        assert tuple(answer.text for answer in answers) == texts


def test_an_hh_pair_with_an_empty_answer_keeps_its_chat_prompt():
    item = parse_row({"chosen": HH_PROMPT + " ", "rejected": HH_PROMPT + " No."}, "jsonl")
    assert item == ImportedPair(({"role": "user", "content": "list of profane bad words"},), "", "No.", None, None)


def test_an_empty_answer_in_parquet(tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [{"prompt": "q", "chosen": "", "rejected": "b"}, {"prompt": "r", "chosen": "a", "rejected": " "}]
        ),
        path,
    )
    pairs = [parse_row(row.data, "parquet") for row in read_rows(path)]
    assert [(pair.chosen, pair.rejected) for pair in pairs] == [("", "b"), ("a", " ")]
    answers_path = tmp_path / "answers.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": "q", "answers": ["a", ""]}]), answers_path)
    (row,) = read_rows(answers_path)
    assert parse_row(row.data, "parquet").answers == (ImportedAnswer("a"), ImportedAnswer(""))


# --- csv ---------------------------------------------------------------------------------------


def test_csv_answer_columns_with_models_and_absent_trailing_answers(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(
        "id,prompt,answer_1,model_1,answer_2,model_2,answer_3,model_3\n"
        'p1,"Capital\nof France?",Paris.,m-a,Lyon.,m-b,Marseille.,\n'
        "p2,Hi,Hello,,Hey,m-b,,\n"
    )
    items = [(row.line, parse_row(row.data, "csv")) for row in read_rows(path)]
    assert items == [
        (
            2,
            ImportedPrompt(
                "Capital\nof France?",
                (
                    ImportedAnswer("Paris.", "m-a"),
                    ImportedAnswer("Lyon.", "m-b"),
                    ImportedAnswer("Marseille."),
                ),
                external_id="p1",
            ),
        ),
        (4, ImportedPrompt("Hi", (ImportedAnswer("Hello"), ImportedAnswer("Hey", "m-b")), external_id="p2")),
    ]


def test_csv_rankings_and_pairs_parse_their_json_and_number_cells():
    ranking = parse_row(
        {
            "prompt": "q",
            "answer_1": "a",
            "answer_2": "b",
            "ranking": "[1, 0]",
            "strengths": "[1]",
            "likert": "5",
        },
        "csv",
    )
    assert (ranking.tiers, ranking.stated_strengths, ranking.likert) == (((1,), (0,)), (1,), 5)
    answers = {"answer_1": "a", "answer_2": "b", "answer_3": "c"}
    stated = parse_row({"prompt": "q", **answers, "ranking": "[2, 1, 0]", "stated_strengths": "[null, 1]"}, "csv")
    assert stated.stated_strengths == (None, 1)
    unranked = parse_row({"prompt": "q", "answer_1": "a", "answer_2": "b", "ranking": ""}, "csv")
    assert isinstance(unranked, ImportedPrompt)
    pair = parse_row({"prompt": "q", "chosen": "a", "rejected": "b", "margin": "2", "annotator": ""}, "csv")
    assert pair == ImportedPair("q", "a", "b", 2, None)
    no_margin = parse_row({"prompt": "q", "chosen": "a", "rejected": "b", "margin": "0"}, "csv")
    assert no_margin.margin == 0
    not_stated = parse_row({"prompt": "q", "chosen": "a", "rejected": "b", "margin": ""}, "csv")
    assert not_stated.margin is None


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"prompt": "q", "answer_1": "a", "answer_3": "c"}, "there is no answer_2 column, but answer_3 is given"),
        (
            {"prompt": "q", "answer_1": "a", "answer_2": "b", "answer_3": "", "model_3": "m"},
            "model_3 is given but answer_3 is empty (a last answer that is empty cannot be told from no "
            "answer in CSV: use jsonl or parquet)",
        ),
        ({"prompt": "q", "answer_1": "", "answer_2": ""}, "2 to 9 answers, got 0"),
        ({"prompt": "q", "answer_1": "a", "answer_2": ""}, "2 to 9 answers, got 1"),  # a trailing empty cell
        ({"prompt": "", "answer_1": "a", "answer_2": "b"}, "the prompt is missing"),
        ({"prompt": "q", "answer_1": "", "answer_2": " "}, "answers 1 and 2 are the same text (both empty)"),
        ({"prompt": "q", "chosen": "", "rejected": ""}, "chosen and rejected are the same text (both empty)"),
        (
            {"prompt": "q", "answer_1": "a", "answer_2": "b", "ranking": "[0, 1"},
            "column 'ranking' must hold JSON: invalid JSON: Expecting ',' delimiter (column 6)",
        ),
        (
            {"prompt": "q", "chosen": "a", "rejected": "b", "margin": "two"},
            "margin must be a whole number, got 'two'",
        ),
        (
            {"prompt": "q", "answer_1": "a", "answer_2": "b", "metadata": "[1]"},
            "metadata must be an object, got a list",
        ),
    ],
)
def test_a_csv_row_that_breaks_a_rule_is_refused_with_the_reason(cells, reason):
    assert parse_error(cells, "csv") == reason


@pytest.mark.parametrize(
    ("cells", "texts"),
    [
        # An empty cell before a filled one is an empty answer, with its model if one is given.
        ({"prompt": "q", "answer_1": "", "answer_2": "b"}, (("", None), ("b", None))),
        (
            {"prompt": "q", "answer_1": "a", "model_1": "", "answer_2": "", "model_2": "m", "answer_3": "c"},
            (("a", None), ("", "m"), ("c", None)),
        ),
        # After the last filled one, empty cells are no answers; a cell of spaces is an answer.
        (
            {"prompt": "q", "answer_1": "a", "answer_2": "", "answer_3": "c", "answer_4": ""},
            (("a", None), ("", None), ("c", None)),
        ),
        ({"prompt": "q", "answer_1": "a", "answer_2": " "}, (("a", None), (" ", None))),
    ],
)
def test_csv_answer_cells_before_the_last_filled_one_may_be_empty_answers(cells, texts):
    item = parse_row(cells, "csv")
    assert tuple((answer.text, answer.model) for answer in item.answers) == texts


def test_csv_an_empty_chosen_or_rejected_cell_beside_a_filled_one_is_an_empty_answer(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text('prompt,chosen,rejected\nq,,"No."\nr,"Yes.",\n')
    pairs = [parse_row(row.data, "csv") for row in read_rows(path)]
    assert pairs == [ImportedPair("q", "", "No.", None, None), ImportedPair("r", "Yes.", "", None, None)]


def test_csv_empty_chosen_and_rejected_cells_are_no_pair_beside_answers():
    cells = {"prompt": "q", "answer_1": "a", "answer_2": "b", "chosen": "", "rejected": ""}
    assert [answer.text for answer in parse_row(cells, "csv").answers] == ["a", "b"]


# --- parquet -----------------------------------------------------------------------------------


def test_parquet_struct_answers_and_chats_import_and_non_json_metadata_is_refused(tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(
        pa.table(
            {
                "prompt": [[{"role": "user", "content": "Hi?"}], [{"role": "user", "content": "Yo?"}]],
                "answers": [
                    [
                        {"text": "Hello", "model": "m", "top_p": 0.9},
                        {"text": "Hey", "model": None, "top_p": None},
                    ],
                    [
                        {"text": "A", "model": None, "top_p": None},
                        {"text": "B", "model": None, "top_p": None},
                    ],
                ],
                "metadata": [{"when": None}, {"when": datetime.datetime(2026, 11, 1)}],
            }
        ),
        path,
    )
    first, second = (row.data for row in read_rows(path))
    assert parse_row(first, "parquet") == ImportedPrompt(
        ({"role": "user", "content": "Hi?"},),
        (ImportedAnswer("Hello", "m", {"top_p": 0.9}), ImportedAnswer("Hey")),
        metadata={"when": None},
    )
    with pytest.raises(RowError, match=r"^metadata must hold only JSON values: Object of type datetime"):
        parse_row(second, "parquet")


# --- kinds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PROMPT_ROW, "prompt"),
        ({**PROMPT_ROW, "ranking": None}, "prompt"),
        ({**PROMPT_ROW, "ranking": [0, 1, 2]}, "ranking"),
        ({"prompt": "q", "answer_1": "a", "answer_2": "b", "ranking": ""}, "prompt"),
        ({"prompt": "q", "answer_1": "a", "answer_2": "b", "ranking": "[1, 0]"}, "ranking"),
        ({"prompt": "q", "chosen": "a", "rejected": "b"}, "pair"),
        ({"chosen": "a", "rejected": "b", "answer_quality": "high"}, "pair"),
    ],
)
def test_row_kind(data, kind):
    assert row_kind(data) == kind


def test_row_kind_refuses_a_row_of_no_kind():
    with pytest.raises(RowError, match=re.escape("a row needs 'prompt' and 'answers', or 'chosen' and 'rejected'")):
        row_kind({"question": "q", "responses": ["a", "b"]})


# --- round trip --------------------------------------------------------------------------------

texts = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40).filter(str.strip)


@st.composite
def prompt_rows(draw) -> dict:
    answers = draw(st.lists(texts, min_size=2, max_size=9, unique_by=str.strip))
    as_objects = draw(st.booleans())
    row = {
        "prompt": draw(texts),
        "answers": [{"text": text, "model": draw(texts)} for text in answers] if as_objects else answers,
    }
    if draw(st.booleans()):
        row["id"] = draw(st.one_of(texts, st.integers(0, 2**40)))
    return row


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(prompt_rows(), min_size=1, max_size=5), ensure_ascii=st.booleans())
def test_valid_rows_written_as_jsonl_read_back_the_same(rows, ensure_ascii):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "rows.jsonl"
        path.write_text("".join(json.dumps(row, ensure_ascii=ensure_ascii) + "\n" for row in rows), encoding="utf-8")
        read = list(read_rows(path))
    assert not [row for row in read if isinstance(row, BadRow)]
    assert [row.data for row in read] == rows
    assert [row.line for row in read] == list(range(1, len(rows) + 1))
    for row, original in zip(read, rows, strict=True):
        item = parse_row(row.data, "jsonl")
        assert item.prompt == original["prompt"]
        expected = [a if isinstance(a, str) else a["text"] for a in original["answers"]]
        assert [answer.text for answer in item.answers] == expected
        if "id" in original:
            assert item.external_id == str(original["id"])


# Values near the edges of the rules: blank and whitespace texts, duplicates after stripping, other types.
_TEXTS = st.sampled_from(["a", "b", " a ", "a\n", "", " ", "\t\n", "Paris.", "Lyon. ", "é — ok", "0"])
_ODD_VALUES = st.sampled_from([None, 0, 7, -1, 1.5, True, [], {}, ["a"], {"x": 1}])
_ANSWER_ITEMS = st.one_of(
    _TEXTS,
    st.fixed_dictionaries({"text": st.one_of(_TEXTS, _ODD_VALUES)}),
    st.fixed_dictionaries({"text": _TEXTS, "model": st.one_of(_TEXTS, _ODD_VALUES)}),
    st.fixed_dictionaries({"text": _TEXTS, "model": _TEXTS, "temperature": st.sampled_from([0.7, None])}),
    st.fixed_dictionaries({"model": _TEXTS}),
    _ODD_VALUES,
)
_ROW_FIELDS = {
    "prompt": st.one_of(_TEXTS, _ODD_VALUES, st.just([{"role": "user", "content": "Hi"}])),
    "answers": st.one_of(st.lists(_ANSWER_ITEMS, min_size=0, max_size=10), _ODD_VALUES),
    "id": st.one_of(_TEXTS, _ODD_VALUES),
    "metadata": st.one_of(_ODD_VALUES, st.just({"source": "x"})),
    "ranking": st.sampled_from([None, [0, 1], [[1, 0]]]),
    "chosen": st.sampled_from([None, "", "yes"]),
    "extra": _ODD_VALUES,
}


_GOOD_ANSWERS = st.one_of(
    st.text(min_size=1, max_size=6).filter(lambda text: not text.isspace()),
    st.fixed_dictionaries({"text": st.sampled_from(["x", "y", "z", "w", " v "])}, optional={"model": _TEXTS}),
)


@st.composite
def near_plain_rows(draw) -> dict:
    """A good row of the common shape with, mostly, one or two fields changed to something near an edge."""
    row = {
        "prompt": draw(st.sampled_from(["Hi", "Capital of France?", " q "])),
        "answers": draw(st.lists(_GOOD_ANSWERS, min_size=2, max_size=9)),
    }
    if draw(st.booleans()):
        row["id"] = draw(st.sampled_from(["q1", " id ", "7"]))
    if draw(st.booleans()):
        row["metadata"] = draw(st.sampled_from([None, {}, {"source": "x"}]))
    for key in draw(st.lists(st.sampled_from(list(_ROW_FIELDS)), max_size=2)):
        row[key] = draw(_ROW_FIELDS[key])
    return row


@settings(max_examples=600, deadline=None)
@given(row=near_plain_rows())
def test_the_plain_row_shortcut_takes_only_rows_parse_row_reads_the_same_way(row):
    """Whatever plain_prompt_row takes, parse_row reads too, to the same prompt, answers, id and metadata."""
    plain = plain_prompt_row(row)
    if plain is None:
        return
    item = parse_row(row, "jsonl")  # raises RowError if the shortcut took a bad row
    assert isinstance(item, ImportedPrompt)
    prompt, answers, external_id, metadata = plain
    assert (prompt, external_id, metadata) == (item.prompt, item.external_id, item.metadata)
    assert answers == [(answer.text, answer.model) for answer in item.answers]
    assert not any(answer.generation for answer in item.answers)


def test_the_plain_row_shortcut_takes_the_common_rows():
    rows = [
        PROMPT_ROW,
        {"id": "q1", "prompt": "Hi", "answers": [{"text": "a", "model": " m "}, {"text": "b"}], "metadata": {"k": 1}},
        {"id": None, "prompt": "Hi", "answers": ["a", {"text": "b", "model": None}], "metadata": None},
    ]
    for row in rows:
        assert plain_prompt_row(row) is not None, row
    # Not its shape: left to parse_row, which says what is wrong or reads what it is.
    for row in (
        {**PROMPT_ROW, "ranking": [0, 1, 2]},
        {**PROMPT_ROW, "prompt": [USER]},
        {**PROMPT_ROW, "answers": ["a", " a"]},
        {**PROMPT_ROW, "answers": ["a", ""]},  # read, and counted, by parse_row
        {**PROMPT_ROW, "answers": ["a", {"text": "b", "temperature": 0.7}]},
        {**PROMPT_ROW, "id": 7},
        {**PROMPT_ROW, "split": "train"},
    ):
        assert plain_prompt_row(row) is None, row
