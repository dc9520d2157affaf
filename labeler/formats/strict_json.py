"""The JSON rules of every file read, stricter than the standard library's, and how to apply them fast.

json.loads accepts NaN and Infinity, duplicate keys (the last one silently wins) and lone surrogates
(which UTF-8, and so SQLite text, cannot hold), and deep nesting ends in RecursionError. Here each
of those is refused with a short reason, and so is nesting deeper than MAX_DEPTH and any string
longer than MAX_TEXT_CHARS.

Each JSON text is first given to orjson (several times faster, and it refuses NaN, Infinity, lone
surrogates and invalid UTF-8 by itself); its value is taken only when cheap checks prove that the strict
parser would give the very same value (see decode_fast). Everything else, every error included, goes
through the strict parser (decode_strict), so the rules and the reasons are one and the same whichever
path a row took.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any, NoReturn

import orjson

# A row is an object of prompt, answers and metadata, a handful of levels deep. Deeper nesting is
# refused, which also keeps every parse far below Python's recursion limit (about 1000 levels).
MAX_DEPTH = 32
# About 250k tokens: longer than any prompt or answer a person can judge, and a cap on what one
# bad line can make the importer, the store and the GUI hold in memory.
MAX_TEXT_CHARS = 1_000_000


def describe_json_type(value: Any) -> str:
    """The kind of a JSON value in words, for messages: "a list", "text", "a number", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not allowed")


def _finite_float(literal: str) -> float:
    # 1e400 parses to inf without ever reaching parse_constant.
    value = float(literal)
    if math.isinf(value):
        raise ValueError(f"the number {literal[:20]} is too large")
    return value


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return obj


# Built once: json.loads with hooks would build a new decoder for every line.
_STRICT_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicate_keys,
    parse_constant=_refuse_constant,
    parse_float=_finite_float,
)
_BRACKET = re.compile(r"[\[\]{}]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def brackets_outside_strings(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """(position, bracket) of each bracket from `start` on that is not inside a JSON string; stops at
    a string that never closes. Strings are skipped with str.find, which is many times faster than
    looking at each character."""
    position = start
    while True:
        quote = text.find('"', position)
        structure_end = len(text) if quote < 0 else quote
        for bracket in _BRACKET.finditer(text, position, structure_end):
            yield bracket.start(), bracket.group()
        if quote < 0:
            return
        position = _after_string(text, quote)
        if position is None:
            return


def _after_string(text: str, quote: int) -> int | None:
    """The index just past the string that opens at `quote`, or None if it never closes."""
    position = quote + 1
    while True:
        close = text.find('"', position)
        if close < 0:
            return None
        backslashes = 0
        while text[close - 1 - backslashes] == "\\":  # stops at the opening quote at the latest
            backslashes += 1
        if backslashes % 2 == 0:
            return close + 1
        position = close + 1


def _nests_deeper_than(text: str, limit: int) -> bool:
    """Whether the brackets outside strings nest deeper than `limit`, counted without recursion.

    Up to the first place where the text stops being valid JSON the count equals the parser's depth,
    and the parser stops there, so a False here means json.loads cannot recurse deeper than `limit`.
    """
    depth = 0
    for _, bracket in brackets_outside_strings(text):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


def value_problem(value: Any, look_for_surrogates: bool) -> str | None:
    """Why a parsed value may not be imported (a non-finite number, a string too long or holding a
    lone surrogate), or None."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            return f"a string is longer than {MAX_TEXT_CHARS:,} characters"
        if look_for_surrogates and _LONE_SURROGATE.search(value):
            return "lone surrogate in a string"
    elif isinstance(value, float):
        if math.isnan(value):
            return "NaN is not allowed"
        if math.isinf(value):
            return "Infinity is not allowed"
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = value_problem(key, look_for_surrogates) or value_problem(item, look_for_surrogates)
            if problem:
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            problem = value_problem(item, look_for_surrogates)
            if problem:
                return problem
    return None


def decode_strict(text: str) -> Any:
    """Parse one JSON value by the strict rules; raises json.JSONDecodeError (with its position) for
    bad syntax and ValueError with the reason for everything else."""
    # The cheap tests first: only a text with enough brackets can nest too deep, only a text holding
    # a \uD800-\uDFFF escape can decode to a surrogate (valid UTF-8 never holds one), and no string
    # is longer than the text it came from.
    if text.count("[") + text.count("{") > MAX_DEPTH and _nests_deeper_than(text, MAX_DEPTH):
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    value = _STRICT_DECODER.decode(text)
    may_hold_surrogates = "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None
    if may_hold_surrogates or len(text) > MAX_TEXT_CHARS:
        problem = value_problem(value, may_hold_surrogates)
        if problem:
            raise ValueError(problem)
    return value


# Where a key can end: its closing quote, JSON whitespace, a colon. Every key of a text matches once,
# and a match inside a string (an escaped quote before a colon) only adds to the count.
_KEY_END = re.compile(r'"[ \t\n\r]*:')
_KEY_END_BYTES = re.compile(rb'"[ \t\n\r]*:')
# orjson turns an integer literal outside the 64-bit range into a float (json.loads keeps the int):
# any float this large is left to the strict parser.
_LARGEST_EXACT = 2.0**63


def decode_fast(text: str | bytes) -> Any | None:
    """The value of a JSON text (a str, or UTF-8 bytes) if orjson parses it and the strict parser would
    give exactly the same value; None when only the strict parser can decide (it also says why).

    orjson refuses what the strict rules refuse except for four things, checked here on its result:
      - duplicate keys (orjson keeps the last): the keys of the objects in the value are counted; the
        text holds at least as many keys, and each of them ends in a match of _KEY_END of its own, so
        as many matches as keys proves that no key was repeated;
      - nesting deeper than MAX_DEPTH: the depth of the value is the depth of the brackets;
      - a string longer than MAX_TEXT_CHARS: impossible in a text that is not longer;
      - integers beyond 64 bits, which orjson makes floats: no float of that size is taken.
    """
    if len(text) > MAX_TEXT_CHARS:
        return None
    try:
        value = orjson.loads(text)
        keys = _keys_if_plain((value,), 0)
    except (orjson.JSONDecodeError, _NotPlain):
        return None
    key_ends = _KEY_END_BYTES.findall(text) if isinstance(text, bytes) else _KEY_END.findall(text)
    return value if len(key_ends) == keys else None


class _NotPlain(Exception):
    """A value decode_fast leaves to the strict parser."""


def _keys_if_plain(container: dict | list | tuple, depth: int) -> int:
    """How many keys the objects in `container` (at `depth`) hold; raises _NotPlain if it nests
    deeper than MAX_DEPTH or holds a float too large to be exact. Recursive: at most MAX_DEPTH deep."""
    if depth > MAX_DEPTH:
        raise _NotPlain
    keys = 0
    if type(container) is dict:
        keys = len(container)
        container = container.values()
    for item in container:
        kind = type(item)
        if kind is str:
            continue
        if kind is dict or kind is list:
            keys += _keys_if_plain(item, depth + 1)
        elif kind is float and not -_LARGEST_EXACT < item < _LARGEST_EXACT:  # also NaN, for safety
            raise _NotPlain
    return keys


def strict_json_loads(text: str) -> Any:
    """json.loads, refusing NaN/Infinity, duplicate keys, lone surrogates, nesting deeper than
    MAX_DEPTH and strings longer than MAX_TEXT_CHARS; raises ValueError with a short human reason."""
    value = decode_fast(text)
    if value is not None:
        return value
    try:
        return decode_strict(text)
    except json.JSONDecodeError as err:
        raise ValueError(syntax_reason(err, first_line=1, first_column=1)) from None


def syntax_reason(err: json.JSONDecodeError, first_line: int, first_column: int) -> str:
    """The reason for a syntax error in a text that starts at (first_line, first_column) of its file;
    the line is named only when it is not the row's first (which the BadRow names)."""
    if err.lineno == 1:
        where = f"column {first_column + err.colno - 1}"
    else:
        where = f"line {first_line + err.lineno - 1}, column {err.colno}"
    return f"invalid JSON: {err.msg} ({where})"
