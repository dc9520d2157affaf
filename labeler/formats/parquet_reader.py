"""The parquet reader: batch by batch, so a file of any size streams. Its values come typed, not as
JSON text, so each row is checked only for what the JSON rules refuse in a value (NaN, Infinity, a
text over MAX_TEXT_CHARS: strict_json.value_problem); Arrow's UTF-8 strings cannot hold a lone surrogate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from labeler.formats.file_input import GzipInput, open_binary
from labeler.formats.source_rows import BadRow, FileFormatError, SourceRow
from labeler.formats.strict_json import value_problem

_PARQUET_BATCH_ROWS = 1024  # rows of long texts: a batch stays a few MB, not the default 65536 rows


def read_parquet(path: Path, file: str) -> Iterator[SourceRow | BadRow]:
    try:  # imported here: pyarrow is large, and only parquet needs it
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise FileFormatError(f"{file}: reading parquet needs pyarrow (pip install pyarrow)") from None
    binary = open_binary(path, file)
    if isinstance(binary, GzipInput):  # read by seeking, a gzip stream would be decompressed again and again
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
                    problem = value_problem(row, look_for_surrogates=False)
                    if problem:
                        yield BadRow(file, number, problem, json.dumps(row, ensure_ascii=False, default=str))
                    else:
                        yield SourceRow(file, number, row)
        except arrow_error as err:
            raise FileFormatError(f"{file}: damaged after row {number}: {err}") from None
