"""The CSV reader: record by record (a record may span lines), the header first, each cell through
spreadsheet_text; a record that csv refuses, or that holds invalid UTF-8 or a NUL byte, is a BadRow
with its original lines.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from labeler.formats.file_input import open_binary
from labeler.formats.source_rows import BadRow, FileFormatError, SourceRow
from labeler.formats.spreadsheet import spreadsheet_text
from labeler.formats.strict_json import MAX_TEXT_CHARS
from labeler.wording import counted


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


def read_csv(path: Path, file: str) -> Iterator[SourceRow | BadRow]:
    binary = open_binary(path, file)
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
