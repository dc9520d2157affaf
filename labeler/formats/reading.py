"""Read a jsonl, json, csv or parquet file into rows, each with the line it starts on; strictly.

This module tells a file's format and hands it to its reader (json_readers, csv_reader,
parquet_reader); every file is opened through file_input, which also decompresses a gzip-compressed
one as it is read. Each row is a SourceRow, or a BadRow (file, line, reason, original text) when it
cannot be read, and reading goes on (source_rows). A file that cannot be read at all raises
FileFormatError from read_rows itself, before the first row (only a file that is damaged halfway, a
parquet file or a gzip-compressed one, can raise it during iteration). The JSON rules, stricter than
the standard library's, are strict_json's.

jsonl is read line by line, csv record by record and parquet batch by batch, so a file of any size
streams; a json list is read whole, so big data belongs in jsonl.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from labeler.formats.csv_reader import read_csv
from labeler.formats.file_input import GzipInput, open_binary
from labeler.formats.json_readers import read_json_list, read_jsonl
from labeler.formats.parquet_reader import read_parquet
from labeler.formats.source_rows import BadRow, FileFormatError, SourceRow

FORMATS = ("jsonl", "json", "csv", "parquet")

_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# Other compressions, told by their first bytes only to say so: "invalid UTF-8" would mislead.
_OTHER_COMPRESSIONS = (
    (re.compile(rb"\x28\xb5\x2f\xfd"), "zstd"),
    (re.compile(rb"\xfd7zXZ\x00"), "xz"),
    (re.compile(rb"BZh[1-9]1AY&SY"), "bzip2"),
)
_SNIFF_BYTES = 64 * 1024
_UTF8_BOM = b"\xef\xbb\xbf"


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
    with open_binary(Path(path), file) as binary:
        head = binary.head(_SNIFF_BYTES) if isinstance(binary, GzipInput) else binary.read(_SNIFF_BYTES)
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


_READERS: dict[str, Callable[[Path, str], Iterator[SourceRow | BadRow]]] = {
    "jsonl": read_jsonl,
    "json": read_json_list,
    "csv": read_csv,
    "parquet": read_parquet,
}
