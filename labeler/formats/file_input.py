"""Opening a file to read: every file read is opened here, refused if it is a project this process
has open, and, when gzip-compressed, decompressed as it is read.

A gzip-compressed jsonl, json or csv file (as datasets are often shipped: pairs.jsonl.gz) is read as
the file it holds: never whole on disk, and a jsonl or csv file still one line at a time. It is told
by its first bytes, so a misnamed file is read too; lines are the decompressed file's lines.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

from labeler.formats.source_rows import FileFormatError
from labeler.store.errors import StoreError
from labeler.store.own_files import refuse_open_project_file

_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_PIECE_BYTES = 64 * 1024  # a json list read whole is decompressed in pieces of this size
_GZIP_HEAD_PIECE_BYTES = 4096  # and the start of a file, to tell its format, in these


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


def open_binary(path: Path, file: str) -> IO[bytes]:
    """The file's bytes; a gzip-compressed file's decompressed bytes, decompressed as they are read.
    The reader's generator owns the file and closes it."""
    binary = _open_file(path, file)
    try:
        head = binary.peek(len(_GZIP_MAGIC))[: len(_GZIP_MAGIC)]  # from the buffer the first read fills
    except OSError as err:
        binary.close()
        raise FileFormatError(f"{file}: cannot read: {err.strerror}") from None
    return GzipInput(binary, file) if head == _GZIP_MAGIC else binary


class GzipInput(gzip.GzipFile):
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
        data = self._decompressed(super().read, size)
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
        line = self._decompressed(super().readline, size)
        self.lines_read += line.endswith(b"\n")
        return line

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.compressed.close()

    def _decompressed(self, read: Callable[[int], bytes], size: int) -> bytes:
        """`read(size)`, one of GzipFile's own reads, with damaged data reported at the last whole line."""
        try:
            return read(size)
        except (OSError, EOFError, zlib.error) as err:
            reason = "the file ends too early (cut short?)" if isinstance(err, EOFError) else str(err)
            raise FileFormatError(f"{self.file}: damaged gzip data after line {self.lines_read}: {reason}") from None
