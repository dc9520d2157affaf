"""The JSON readers: jsonl line by line (so a file of any size streams), and a json list, read whole
(so big data belongs in jsonl) but split into its elements before any is parsed, so that one bad
element is one BadRow. Both parse each row by the rules of strict_json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from labeler.formats.file_input import open_binary
from labeler.formats.source_rows import BadRow, FileFormatError, SourceRow
from labeler.formats.strict_json import (
    brackets_outside_strings,
    decode_fast,
    decode_strict,
    describe_json_type,
    syntax_reason,
)

_PLAIN_DECODER = json.JSONDecoder()
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _row_or_bad(file: str, line: int, text: str, first_column: int = 1) -> SourceRow | BadRow:
    """The row a JSON text holds; a BadRow keeps the text without its line ending."""
    # Without its line ending, a text cut short is reported at the end of its own line, not at the start
    # of a next line the file does not have.
    text = text.rstrip("\r\n")
    value = decode_fast(text)
    if isinstance(value, dict):
        return SourceRow(file, line, value)
    try:
        value = decode_strict(text)
    except json.JSONDecodeError as err:
        reason = syntax_reason(err, line, first_column)
    except ValueError as err:
        reason = str(err)
    else:
        if isinstance(value, dict):
            return SourceRow(file, line, value)
        reason = f"a row must be a JSON object, got {describe_json_type(value)}"
    return BadRow(file, line, reason, text)


# --- jsonl -----------------------------------------------------------------------------------


def read_jsonl(path: Path, file: str) -> Iterator[SourceRow | BadRow]:
    return _jsonl_rows(open_binary(path, file), file)


def _jsonl_rows(binary: IO[bytes], file: str) -> Iterator[SourceRow | BadRow]:
    with binary:
        for number, raw in enumerate(binary, 1):
            if raw.isspace():
                continue
            value = decode_fast(raw)  # straight from the bytes: a good row is never decoded twice
            if isinstance(value, dict):
                yield SourceRow(file, number, value)
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                reason = f"invalid UTF-8 at byte {err.start + 1} of the line"
                yield BadRow(file, number, reason, raw.decode("utf-8", "replace").rstrip("\r\n"))
                continue
            if number == 1:
                text = text.removeprefix("\ufeff")
                if not text.strip():
                    continue
            yield _row_or_bad(file, number, text)


# --- json list -------------------------------------------------------------------------------


def read_json_list(path: Path, file: str) -> Iterator[SourceRow | BadRow]:
    with open_binary(path, file) as binary:
        content = binary.read()
    try:
        text = content.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        line = content.count(b"\n", 0, err.start) + 1
        byte = err.start - content.rfind(b"\n", 0, err.start)
        raise FileFormatError(f"{file}: not UTF-8 at line {line}, byte {byte}") from None
    return _json_list_rows(text, file, _json_list_elements(text, file))


def _matching_close(text: str, start: int) -> int | None:
    """The index just past the bracket that closes the one at `start`, or None if the text ends first."""
    depth = 0
    for position, bracket in brackets_outside_strings(text, start):
        depth += 1 if bracket in "[{" else -1
        if depth == 0:
            return position + 1
    return None


def _json_list_elements(text: str, file: str) -> list[tuple[int, int, int]]:
    """(start, end, line) of each element of the top-level list, found without parsing the elements,
    so that one bad element is one BadRow; raises FileFormatError if the list itself is malformed."""
    line, counted = 1, 0

    def line_at(position: int) -> int:  # positions only grow, so count each newline once
        nonlocal line, counted
        line += text.count("\n", counted, position)
        counted = position
        return line

    def fail(position: int, reason: str) -> FileFormatError:
        return FileFormatError(f"{file}: invalid JSON at line {line_at(position)}: {reason}")

    position = _JSON_WHITESPACE.match(text).end()
    if position == len(text):
        raise fail(position, "the file is empty")
    if text[position] != "[":
        raise FileFormatError(f"{file}: expected a JSON list of rows, [{{...}}, ...], at line {line_at(position)}")
    elements = []
    position = _JSON_WHITESPACE.match(text, position + 1).end()
    if text.startswith("]", position):
        position += 1
    else:
        while True:
            start = position
            if start < len(text) and text[start] in "[{":
                end = _matching_close(text, start)
                if end is None:
                    raise fail(start, "this row is never closed")
            else:  # a scalar (a BadRow later) has no nesting, so the plain parser may find its end
                try:
                    _, end = _PLAIN_DECODER.raw_decode(text, start)
                except json.JSONDecodeError as err:
                    raise fail(err.pos, err.msg) from None
            elements.append((start, end, line_at(start)))
            position = _JSON_WHITESPACE.match(text, end).end()
            if text.startswith(",", position):
                position = _JSON_WHITESPACE.match(text, position + 1).end()
            elif text.startswith("]", position):
                position += 1
                break
            elif position == len(text):
                raise fail(position, "the list is never closed with ']'")
            else:
                raise fail(position, f"expected ',' or ']' after the row that starts at line {elements[-1][2]}")
    position = _JSON_WHITESPACE.match(text, position).end()
    if position != len(text):
        raise fail(position, "extra data after the list")
    return elements


def _json_list_rows(text: str, file: str, elements: list[tuple[int, int, int]]) -> Iterator[SourceRow | BadRow]:
    for start, end, line in elements:
        column = start - text.rfind("\n", 0, start)
        yield _row_or_bad(file, line, text[start:end], first_column=column)
