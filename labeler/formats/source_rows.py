"""What reading a file gives: a SourceRow for each row read, a BadRow for each row that could not be,
and FileFormatError for a file that cannot be read at all.

A bad row does not stop reading, so an import can report every problem at once and write the rejects
to a file; a bad file does (see labeler.formats.reading.read_rows for when it is raised).
"""

from __future__ import annotations

from dataclasses import dataclass


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
