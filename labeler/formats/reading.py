"""Read a jsonl, json, csv or parquet file into rows, each with the line it starts on; strictly.

A row that cannot be read becomes a BadRow (file, line, reason, original text) and reading goes on,
so an import can report every problem at once and write the rejects to a file. A file that cannot be
read at all raises FileFormatError from read_rows itself, before the first row (only a file that is
damaged halfway, a parquet file or a gzip-compressed one, can raise it during iteration).

A gzip-compressed jsonl, json or csv file (as datasets are often shipped: pairs.jsonl.gz) is read as
the file it holds, decompressed as it is read: never whole on disk, and a jsonl or csv file still one
line at a time. It is told by its first bytes, so a misnamed file is read too; lines are the
decompressed file's lines.

The JSON rules are stricter than the standard library's: json.loads accepts NaN and Infinity,
duplicate keys (the last one silently wins) and lone surrogates (which UTF-8, and so SQLite text,
cannot hold), and deep nesting ends in RecursionError. Here each of those is a BadRow with a reason,
and so is nesting deeper than MAX_DEPTH and any string longer than MAX_TEXT_CHARS.

Each JSON text is first given to orjson (several times faster, and it refuses NaN, Infinity, lone
surrogates and invalid UTF-8 by itself); its value is taken only when cheap checks prove that the strict
parser would give the very same value (see _decode_fast). Everything else, every error included, goes
through the strict parser, so the rules and the reasons are one and the same whichever path a row took.

jsonl is read line by line, csv record by record and parquet batch by batch, so a file of any size
streams; a json list is read whole, so big data belongs in jsonl.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

import orjson

from labeler.formats.spreadsheet import spreadsheet_text
from labeler.store.errors import StoreError
from labeler.store.own_files import refuse_open_project_file
from labeler.wording import counted

# A row is an object of prompt, answers and metadata, a handful of levels deep. Deeper nesting is
# refused, which also keeps every parse far below Python's recursion limit (about 1000 levels).
MAX_DEPTH = 32
# About 250k tokens: longer than any prompt or answer a person can judge, and a cap on what one
# bad line can make the importer, the store and the GUI hold in memory.
MAX_TEXT_CHARS = 1_000_000
FORMATS = ("jsonl", "json", "csv", "parquet")

_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_PIECE_BYTES = 64 * 1024  # a json list read whole is decompressed in pieces of this size
_GZIP_HEAD_PIECE_BYTES = 4096  # and the start of a file, to tell its format, in these
# Other compressions, told by their first bytes only to say so: "invalid UTF-8" would mislead.
_OTHER_COMPRESSIONS = (
    (re.compile(rb"\x28\xb5\x2f\xfd"), "zstd"),
    (re.compile(rb"\xfd7zXZ\x00"), "xz"),
    (re.compile(rb"BZh[1-9]1AY&SY"), "bzip2"),
)
_SNIFF_BYTES = 64 * 1024
_UTF8_BOM = b"\xef\xbb\xbf"
_PARQUET_BATCH_ROWS = 1024  # rows of long texts: a batch stays a few MB, not the default 65536 rows


@dataclass(slots=True)  # not frozen: building a frozen one costs three times as much, per row
class SourceRow:
    """One row as read: `line` is 1-based (jsonl: its line; json list: where the element starts;
    csv: the physical line where the record starts, the header being line 1; parquet: the row number)."""

    file: str
    line: int
    data: dict


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read; `raw` is its original text (parquet: the row as JSON)."""

    file: str
    line: int
    reason: str
    raw: str


class FileFormatError(Exception):
    """The whole file cannot be read; the message starts with the file's path."""


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


# --- strict JSON -----------------------------------------------------------------------------


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
_PLAIN_DECODER = json.JSONDecoder()
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")
_BRACKET = re.compile(r"[\[\]{}]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _brackets_outside_strings(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
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
    for _, bracket in _brackets_outside_strings(text):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


def _value_problem(value: Any, look_for_surrogates: bool) -> str | None:
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
            problem = _value_problem(key, look_for_surrogates) or _value_problem(item, look_for_surrogates)
            if problem:
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            problem = _value_problem(item, look_for_surrogates)
            if problem:
                return problem
    return None


def _decode_strict(text: str) -> Any:
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
        problem = _value_problem(value, may_hold_surrogates)
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


def _decode_fast(text: str | bytes) -> Any | None:
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
    """A value _decode_fast leaves to the strict parser."""


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
    value = _decode_fast(text)
    if value is not None:
        return value
    try:
        return _decode_strict(text)
    except json.JSONDecodeError as err:
        raise ValueError(_syntax_reason(err, first_line=1, first_column=1)) from None


def _syntax_reason(err: json.JSONDecodeError, first_line: int, first_column: int) -> str:
    """The reason for a syntax error in a text that starts at (first_line, first_column) of its file;
    the line is named only when it is not the row's first (which the BadRow names)."""
    if err.lineno == 1:
        where = f"column {first_column + err.colno - 1}"
    else:
        where = f"line {first_line + err.lineno - 1}, column {err.colno}"
    return f"invalid JSON: {err.msg} ({where})"


def _row_or_bad(file: str, line: int, text: str, first_column: int = 1) -> SourceRow | BadRow:
    """The row a JSON text holds; a BadRow keeps the text without its line ending."""
    # Without its line ending, a text cut short is reported at the end of its own line, not at the start
    # of a next line the file does not have.
    text = text.rstrip("\r\n")
    value = _decode_fast(text)
    if isinstance(value, dict):
        return SourceRow(file, line, value)
    try:
        value = _decode_strict(text)
    except json.JSONDecodeError as err:
        reason = _syntax_reason(err, line, first_column)
    except ValueError as err:
        reason = str(err)
    else:
        if isinstance(value, dict):
            return SourceRow(file, line, value)
        reason = f"a row must be a JSON object, got {describe_json_type(value)}"
    return BadRow(file, line, reason, text)


# --- opening and detecting -------------------------------------------------------------------


def _open_file(path: Path, file: str) -> IO[bytes]:
    """Every file read here is opened by this function, and first checked not to be a project this
    process has open: closing our descriptor of it would drop SQLite's locks (see own_files)."""
    try:
        refuse_open_project_file(path)
    except StoreError as error:
        raise FileFormatError(str(error)) from None
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise FileFormatError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise FileFormatError(f"{file}: is a directory, not a file") from None
    except OSError as err:
        raise FileFormatError(f"{file}: cannot open: {err.strerror}") from None


def _open_binary(path: Path, file: str) -> IO[bytes]:
    """The file's bytes; a gzip-compressed file's decompressed bytes, decompressed as they are read.
    The reader's generator owns the file and closes it."""
    binary = _open_file(path, file)
    try:
        head = binary.peek(len(_GZIP_MAGIC))[: len(_GZIP_MAGIC)]  # from the buffer the first read fills
    except OSError as err:
        binary.close()
        raise FileFormatError(f"{file}: cannot read: {err.strerror}") from None
    return _GzipInput(binary, file) if head == _GZIP_MAGIC else binary


class _GzipInput(gzip.GzipFile):
    """A gzip file's content, read as it is decompressed. Damaged data (a file cut short, a bad block,
    a wrong checksum) raises FileFormatError naming the last whole line read, whichever reader reads."""

    def __init__(self, compressed: IO[bytes], file: str):
        super().__init__(fileobj=compressed, mode="rb")
        self.compressed = compressed  # GzipFile does not close a file object it was given: close() does
        self.file = file
        self.lines_read = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:  # all of it in pieces, so that damage is placed after the lines before
            return b"".join(iter(lambda: self.read(_GZIP_PIECE_BYTES), b""))
        try:
            data = super().read(size)
        except (OSError, EOFError, zlib.error) as err:
            raise self._damaged(err) from None
        self.lines_read += data.count(b"\n")
        return data

    def head(self, size: int) -> bytes:
        """Up to `size` bytes from the start, fewer if the data is damaged before that: telling the
        format needs only the start, and the reader then reports the damage at its line."""
        head = b""
        while len(head) < size:
            try:
                piece = self.read(min(_GZIP_HEAD_PIECE_BYTES, size - len(head)))
            except FileFormatError:
                if head:
                    break
                raise
            if not piece:
                break
            head += piece
        return head

    def readline(self, size: int = -1) -> bytes:
        try:
            line = super().readline(size)
        except (OSError, EOFError, zlib.error) as err:
            raise self._damaged(err) from None
        self.lines_read += line.endswith(b"\n")
        return line

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.compressed.close()

    def _damaged(self, err: Exception) -> FileFormatError:
        reason = "the file ends too early (cut short?)" if isinstance(err, EOFError) else str(err)
        return FileFormatError(f"{self.file}: damaged gzip data after line {self.lines_read}: {reason}")


def _format_by_extension(file: str) -> str | None:
    """The format a file's name says, looking through a compression suffix: pairs.jsonl.gz is jsonl."""
    name = Path(file)
    if name.suffix.lower() == ".gz":
        name = name.with_suffix("")
    return _EXTENSIONS.get(name.suffix.lower())


def detect_format(path: Path | str) -> str:
    """The format of a file, from its content first (a parquet magic number, a JSON list, JSON lines,
    a header line with commas), then from its extension; raises FileFormatError if neither tells."""
    file = os.fspath(path)
    with _open_binary(Path(path), file) as binary:
        head = binary.head(_SNIFF_BYTES) if isinstance(binary, _GzipInput) else binary.read(_SNIFF_BYTES)
    if head.startswith(b"PAR1"):
        return "parquet"
    for magic, compression in _OTHER_COMPRESSIONS:
        if magic.match(head):
            raise FileFormatError(f"{file}: is {compression}-compressed; decompress it, or compress it with gzip")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileFormatError(f"{file}: is UTF-16; save it as UTF-8")
    text = head.removeprefix(_UTF8_BOM).lstrip()
    first_line = text.split(b"\n", 1)[0].strip()
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        if first_line == b"{":  # an object spread over lines cannot be JSON lines; say so once
            raise FileFormatError(
                f"{file}: holds a JSON object over several lines; "
                "use one object per line (jsonl) or a list of objects (json)"
            )
        return "jsonl"
    if b"," in first_line:
        return "csv"
    by_extension = _format_by_extension(file)
    if by_extension:
        return by_extension
    raise FileFormatError(f"{file}: cannot tell the format (use --format jsonl|json|csv|parquet)")


def read_rows(path: Path | str, fmt: str | None = None) -> Iterator[SourceRow | BadRow]:
    """The rows of a file, in order, each a SourceRow or a BadRow; `fmt` (one of FORMATS) overrides
    detection. Raises FileFormatError here, not while iterating, when the file cannot be read."""
    file = os.fspath(path)
    if fmt is None:
        fmt = detect_format(path)
    if fmt not in _READERS:
        raise FileFormatError(f"{file}: unknown format {fmt!r} (use --format jsonl|json|csv|parquet)")
    return _READERS[fmt](Path(path), file)


# --- jsonl -----------------------------------------------------------------------------------


def _read_jsonl(path: Path, file: str) -> Iterator[SourceRow | BadRow]:
    return _jsonl_rows(_open_binary(path, file), file)


def _jsonl_rows(binary: IO[bytes], file: str) -> Iterator[SourceRow | BadRow]:
    with binary:
        for number, raw in enumerate(binary, 1):
            if raw.isspace():
                continue
            value = _decode_fast(raw)  # straight from the bytes: a good row is never decoded twice
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


def _read_json_list(path: Path, file: str) -> Iterator[SourceRow | BadRow]:
    with _open_binary(path, file) as binary:
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
    for position, bracket in _brackets_outside_strings(text, start):
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


# --- csv -------------------------------------------------------------------------------------


class _CsvLines:
    """The file's lines decoded one by one for csv.reader, remembering the lines of the record being
    read (its original text for a reject file) and the first undecodable or NUL line in it."""

    def __init__(self, binary: IO[bytes]) -> None:
        self._lines = iter(binary)
        self.number = 0
        self._record: list[str] = []
        self.problem: str | None = None

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        raw = next(self._lines)
        self.number += 1
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            line = raw.decode("utf-8", "replace")
            self.problem = self.problem or f"invalid UTF-8 at line {self.number}, byte {err.start + 1}"
        if self.number == 1:
            line = line.removeprefix("\ufeff")
        self._record.append(line)
        if "\x00" in line:  # csv accepts NUL in some Python versions and not in others: decide here
            self.problem = self.problem or f"NUL byte at line {self.number}"
            return line.replace("\x00", "")
        return line

    def start_record(self) -> int:
        """Forget the previous record; returns the line the next one starts on."""
        self._record = []
        self.problem = None
        return self.number + 1

    def record_text(self) -> str:
        return "".join(self._record)


def _csv_records(lines: _CsvLines) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(start line, cells, problem) for each non-blank record; cells is None when csv refused it."""
    # The field size limit is process-wide; raising it to our own cap is harmless to other readers.
    csv.field_size_limit(max(csv.field_size_limit(), MAX_TEXT_CHARS))
    reader = csv.reader(lines, strict=True)
    while True:
        start = lines.start_record()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            if str(err).startswith("field larger than field limit"):
                reason = f"a value is longer than {MAX_TEXT_CHARS:,} characters"
            else:
                reason = f"malformed CSV: {err}"
            yield start, None, lines.problem or reason
            continue
        if cells:
            yield start, cells, lines.problem


def _read_csv(path: Path, file: str) -> Iterator[SourceRow | BadRow]:
    binary = _open_binary(path, file)
    lines = _CsvLines(binary)
    records = _csv_records(lines)
    try:
        first = next(records, None)
    except FileFormatError:  # damaged compressed data
        binary.close()
        raise
    if first is None:
        binary.close()
        return iter(())
    line, header, problem = first
    if problem:
        binary.close()
        raise FileFormatError(f"{file}: cannot read the header (line {line}): {problem}")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        binary.close()
        raise FileFormatError(f"{file}: the header names column {duplicated[0]!r} twice")
    return _csv_rows(binary, file, header, lines, records)


def _csv_rows(
    binary: IO[bytes],
    file: str,
    header: list[str],
    lines: _CsvLines,
    records: Iterator[tuple[int, list[str] | None, str | None]],
) -> Iterator[SourceRow | BadRow]:
    with binary:
        for line, cells, problem in records:
            if problem is None and len(cells) != len(header):
                problem = f"{counted(len(cells), 'field')}, but the header has {counted(len(header), 'column')}"
            if problem is None and max(map(len, cells)) > MAX_TEXT_CHARS:
                problem = f"a value is longer than {MAX_TEXT_CHARS:,} characters"
            if problem:
                yield BadRow(file, line, problem, lines.record_text())
            else:
                yield SourceRow(file, line, dict(zip(header, map(spreadsheet_text, cells), strict=True)))


# --- parquet ---------------------------------------------------------------------------------


def _read_parquet(path: Path, file: str) -> Iterator[SourceRow | BadRow]:
    try:  # imported here: pyarrow is large, and only parquet needs it
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise FileFormatError(f"{file}: reading parquet needs pyarrow (pip install pyarrow)") from None
    binary = _open_binary(path, file)
    if isinstance(binary, _GzipInput):  # read by seeking, a gzip stream would be decompressed again and again
        binary.close()
        raise FileFormatError(
            f"{file}: is a gzip-compressed parquet file; parquet compresses its own columns, "
            "so decompress it (gunzip) and import the .parquet file"
        )
    try:
        parquet = pyarrow.parquet.ParquetFile(binary)
    except pyarrow.ArrowException as err:
        binary.close()
        raise FileFormatError(f"{file}: not a readable parquet file: {err}") from None
    return _parquet_rows(binary, parquet, file, pyarrow.ArrowException)


def _parquet_rows(
    binary: IO[bytes], parquet: Any, file: str, arrow_error: type[Exception]
) -> Iterator[SourceRow | BadRow]:
    number = 0
    with binary:
        try:
            for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
                for row in batch.to_pylist():
                    number += 1
                    problem = _value_problem(row, look_for_surrogates=False)
                    if problem:
                        yield BadRow(file, number, problem, json.dumps(row, ensure_ascii=False, default=str))
                    else:
                        yield SourceRow(file, number, row)
        except arrow_error as err:
            raise FileFormatError(f"{file}: damaged after row {number}: {err}") from None


_READERS: dict[str, Callable[[Path, str], Iterator[SourceRow | BadRow]]] = {
    "jsonl": _read_jsonl,
    "json": _read_json_list,
    "csv": _read_csv,
    "parquet": _read_parquet,
}
