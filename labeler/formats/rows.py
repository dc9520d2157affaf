"""Turn one row read from a file into a typed item to import: a prompt with answers, a ranking, or a pair.

The kinds of row (the keys of a JSON object, or the columns of a CSV file):
  - a prompt with 2 to 9 answers: "prompt" (text or a chat), "answers" (texts, or objects with
    "text", an optional "model", and other keys kept as generation settings), optional "id" and
    "metadata"; in CSV the columns prompt, answer_1 ... answer_K, optional id and model_1 ... model_K;
  - a ranking: the same plus "ranking", 0-based answer indices best first with a nested list for a
    tie ([[2, 0], 1, 3]), optional "strengths" between tiers (1, 2 or 3), "annotator", "likert",
    "comment"; in CSV "ranking" and "strengths" hold JSON text. Strengths given are stated; without
    them no step's strength was stated. `labeler export --format rankings` writes "stated_strengths"
    too (null where a step's strength was not stated), which then says which were;
  - a pair, in any of TRL's preference layouts: "prompt", "chosen", "rejected" as text or as chat
    messages, or "chosen" and "rejected" alone (the prompt is what they share, which also reads
    Anthropic HH transcripts), with an optional "margin" (stated when given, 0 included) and
    "annotator".
Missing optional fields may be absent or null. Keys this module does not know are ignored, so
datasets with extra columns import.

An empty answer ("" or only whitespace) is a real answer: a policy can say nothing and an annotator can
prefer that, so it is imported like any other (two empty answers to one prompt are the same text). An
empty prompt is refused. In CSV an empty cell is an absent field, except where it can only be an
answer: an empty chosen or rejected cell beside a filled one is an empty answer, and so is an empty
answer_N cell before a filled answer_M; empty cells after the last filled answer are no answers, so a
row whose last answer is empty needs jsonl or parquet.

This module tells which kind a row is and builds its item (row_items); the fields are checked by
prompt_fields, ranking_fields and pair_rows, CSV cells become fields in csv_cells, and plain_rows
takes the commonest rows in one step. Pure: no files, no database. Whether one id names two
different prompts is for the caller to check across rows. The rules of rankings are labeler.domain's.
"""

from __future__ import annotations

import re
from typing import Any

from labeler.formats.csv_cells import fields_from_csv
from labeler.formats.pair_rows import parse_pair
from labeler.formats.prompt_fields import parse_answers, parse_external_id, parse_metadata, parse_prompt, require_json
from labeler.formats.ranking_fields import parse_comment, parse_likert, parse_ranking, stated_strengths
from labeler.formats.reading import FORMATS
from labeler.formats.row_fields import parse_annotator
from labeler.formats.row_items import ImportedPair, ImportedPrompt, ImportedRanking, RowError
from labeler.formats.strict_json import describe_json_type

_ANSWER_COLUMN = re.compile(r"answer_[1-9][0-9]*")


def row_kind(data: dict) -> str:
    """ "prompt", "ranking" or "pair"; raises RowError when the row is none of them."""
    if not isinstance(data, dict):
        raise RowError(f"a row must be an object, got {describe_json_type(data)}")
    has_answers = data.get("answers") is not None or any(map(_ANSWER_COLUMN.fullmatch, data))
    chosen, rejected = data.get("chosen"), data.get("rejected")
    # One of the two with content makes a pair (the other may be an empty answer); two empty ones do
    # not, so a row of a file with both kinds of columns is what its other fields say.
    has_pair = _given(chosen) or _given(rejected)
    if has_answers and has_pair:
        raise RowError("a row has either 'answers' or 'chosen' and 'rejected', not both")
    if has_answers:
        return "ranking" if _given(data.get("ranking")) else "prompt"
    if has_pair:
        for key in ("chosen", "rejected"):
            if data.get(key) is None:
                raise RowError(f"a pair needs both 'chosen' and 'rejected'; '{key}' is missing")
        return "pair"
    if chosen is not None and rejected is not None:
        raise RowError("chosen and rejected are the same text (both empty)")
    raise RowError("a row needs 'prompt' and 'answers', or 'chosen' and 'rejected'")


def parse_row(data: dict, fmt: str) -> ImportedPrompt | ImportedRanking | ImportedPair:
    """The typed item a row stands for; `fmt` is the file's format (CSV cells are all text).
    Raises RowError with the reason when the row breaks a rule."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    if fmt == "csv":
        data = fields_from_csv(data)
    kind = row_kind(data)
    if kind == "pair":
        return parse_pair(data)
    prompt = ImportedPrompt(
        prompt=parse_prompt(data.get("prompt")),
        answers=parse_answers(data["answers"]),
        external_id=parse_external_id(data.get("id")),
        metadata=parse_metadata(data.get("metadata")),
    )
    if fmt == "parquet":  # JSON and CSV can only hold JSON; parquet can hold dates, bytes, decimals
        require_json(prompt.metadata, "metadata")
        for number, answer in enumerate(prompt.answers, 1):
            require_json(answer.generation, f"the settings of answer {number}")
    if kind == "prompt":
        return prompt
    ranking = parse_ranking(data["ranking"], len(prompt.answers))
    return ImportedRanking(
        prompt=prompt,
        tiers=ranking.tiers,
        stated_strengths=stated_strengths(ranking, data.get("strengths"), data.get("stated_strengths")),
        annotator=parse_annotator(data.get("annotator")),
        likert=parse_likert(data.get("likert")),
        comment=parse_comment(data.get("comment")),
    )


def _given(value: Any) -> bool:
    return value is not None and value != ""
