"""A CSV record's cells (all text) as the fields a JSON row would hold: answer_N and model_N columns
gathered into "answers", JSON and whole-number columns parsed, empty cells dropped where they can only
mean "absent".
"""

from __future__ import annotations

import re
from typing import Any

from labeler.formats.row_items import RowError
from labeler.formats.strict_json import strict_json_loads

_NUMBERED_COLUMN = re.compile(r"(answer|model)_([1-9][0-9]*)")
_CSV_JSON_COLUMNS = ("ranking", "strengths", "stated_strengths", "metadata")
_CSV_PAIR_COLUMNS = ("chosen", "rejected")
_CSV_WHOLE_NUMBER_COLUMNS = ("margin", "likert")


def fields_from_csv(cells: dict[str, str]) -> dict[str, Any]:
    """The row as JSON-like fields: empty cells dropped (but those of the answer columns kept, see
    _answers_from_columns, and those of chosen and rejected, which row_kind reads), answer_N/model_N
    gathered into "answers", JSON and whole-number columns parsed."""
    fields: dict[str, Any] = {}
    answers: dict[int, str] = {}  # every answer_N column's cell, empty or not
    models: dict[int, str] = {}
    for column, cell in cells.items():
        numbered = _NUMBERED_COLUMN.fullmatch(column)
        if numbered and numbered[1] == "answer":
            answers[int(numbered[2])] = cell
        elif column in _CSV_PAIR_COLUMNS:
            fields[column] = cell
        elif cell == "":
            continue
        elif numbered:
            models[int(numbered[2])] = cell
        elif column in _CSV_JSON_COLUMNS:
            try:
                fields[column] = strict_json_loads(cell)
            except ValueError as err:
                raise RowError(f"column '{column}' must hold JSON: {err}") from None
        elif column in _CSV_WHOLE_NUMBER_COLUMNS:
            if not re.fullmatch(r"\s*-?[0-9]+\s*", cell):
                raise RowError(f"{column} must be a whole number, got {cell!r}")
            fields[column] = int(cell)
        else:
            fields[column] = cell
    if answers:
        fields["answers"] = _answers_from_columns(answers, models)
    return fields


def _answers_from_columns(answers: dict[int, str], models: dict[int, str]) -> list[dict[str, Any]]:
    """answer_1 ... answer_K as a list, K the last filled one: an empty cell before it is an empty
    answer, the empty cells after it are no answers (a CSV cell cannot tell a last empty answer from
    none)."""
    count = max((number for number, cell in answers.items() if cell != ""), default=0)
    for number in range(1, count):
        if number not in answers:
            raise RowError(f"there is no answer_{number} column, but answer_{count} is given")
    for number in sorted(models):
        if number > count:
            raise RowError(
                f"model_{number} is given but answer_{number} is empty (a last answer that is empty "
                "cannot be told from no answer in CSV: use jsonl or parquet)"
            )
    return [{"text": answers[number], "model": models.get(number)} for number in range(1, count + 1)]
