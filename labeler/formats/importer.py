"""`labeler import`: files of prompts, answers, rankings or pairs into a project, all or nothing.

Every row of every file is read and checked, in order, and turned into prepared chunks
(labeler.store.importing) that are written as they come inside one transaction. By default one bad
row means nothing is written: reading goes on only to report every bad row, and the transaction is
rolled back. With a rejects file the good rows are imported and the bad ones are written there with
their reasons.

A big import reads and checks its files in a second process while this one writes: the two halves
take about as long as each other, so on two cores the import takes half the time. Reading stays one
sequential pass either way (the same code, in the same order), so which rows are refused, and why,
does not depend on where they were read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import json
import multiprocessing
import os
import pickle
import queue
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labeler.domain import Ranking
from labeler.formats.plain_rows import plain_prompt_row
from labeler.formats.reading import detect_format, read_rows
from labeler.formats.row_items import ImportedPair, ImportedPrompt, ImportedRanking, RowError
from labeler.formats.rows import parse_row
from labeler.formats.source_rows import BadRow
from labeler.store import Store, answers_hash, content_hash
from labeler.store.importing import (
    ImportCounts,
    PreparedChunk,
    PreparedJudgement,
    import_prepared,
    imported_judgement_uuid,
    prepare_prompt,
    prepare_text_prompt,
)
from labeler.store.own_files import refuse_open_project_file
from labeler.wording import counted

DEFAULT_ANNOTATOR = "import"
# Files of this size or more together make a big import: read in a second process (smaller ones
# are read in this process: starting a second one, about 0.1 s forked, 0.3 s spawned, costs more
# than it saves) and written in bulk (labeler.store.importing.import_prepared).
PARALLEL_MIN_BYTES = 8_000_000
_CHUNK_ROWS = 1000  # rows per chunk sent to the writer: about 2 MB of typical prompts and answers
_CHUNKS_AHEAD = 8  # chunks the reading process may run ahead of the writer (a bound on memory)
_POLL_S = 1.0  # how often the writer checks that a silent reading process is still alive


@dataclass
class Quirks:
    """What real data holds that looks like a mistake but is not one, counted over the rows imported
    so the summary can say what was kept as it is (nothing here refuses a row)."""

    empty_answers: int = 0  # "" or only whitespace: a policy can say nothing, and a person can prefer it
    answers_with_speaker_labels: int = 0  # HH answers holding "Human:" or "Assistant:", written by the model
    prompts_repeating_a_speaker: int = 0  # chats with two turns in a row by one role

    def add(self, other: Quirks) -> None:
        self.empty_answers += other.empty_answers
        self.answers_with_speaker_labels += other.answers_with_speaker_labels
        self.prompts_repeating_a_speaker += other.prompts_repeating_a_speaker

    def count(self, item: ImportedPrompt | ImportedRanking | ImportedPair) -> None:
        """Count what one imported row holds."""
        if isinstance(item, ImportedPair):
            prompt, texts = item.prompt, (item.chosen, item.rejected)
            self.answers_with_speaker_labels += item.answers_with_speaker_labels
        else:
            imported = item.prompt if isinstance(item, ImportedRanking) else item
            prompt, texts = imported.prompt, [answer.text for answer in imported.answers]
        self.empty_answers += sum(1 for text in texts if not text or text.isspace())
        if isinstance(prompt, tuple) and _repeats_a_speaker(prompt):
            self.prompts_repeating_a_speaker += 1

    def summary_lines(self) -> list[str]:
        """One line for each kind of quirk found, for the import summary."""
        lines = []
        if self.empty_answers:
            lines.append(f"{counted(self.empty_answers, 'empty answer')} (kept: an empty reply is a real answer)")
        if self.answers_with_speaker_labels:
            lines.append(
                f"{counted(self.answers_with_speaker_labels, 'answer')} "
                f"{'holds' if self.answers_with_speaker_labels == 1 else 'hold'} 'Human:' or 'Assistant:' "
                "(the model wrote a speaker's label into its reply; kept as written)"
            )
        if self.prompts_repeating_a_speaker:
            lines.append(
                f"{counted(self.prompts_repeating_a_speaker, 'prompt')} with two turns in a row by one speaker "
                "(kept as written; chat templates that want turns to alternate refuse these)"
            )
        return lines


def _repeats_a_speaker(chat: tuple[dict[str, str], ...]) -> bool:
    return any(first["role"] == second["role"] for first, second in itertools.pairwise(chat))


@dataclass
class ImportReport(ImportCounts):
    """What was read, besides what was added (ImportCounts)."""

    rows: int = 0
    bad: list[BadRow] = field(default_factory=list)
    quirks: Quirks = field(default_factory=Quirks)  # in the good rows read


class ImportRejected(Exception):
    """Bad rows and no rejects file: nothing was imported."""

    def __init__(self, bad: list[BadRow]):
        super().__init__(f"{counted(len(bad), 'bad row')}; nothing was imported")
        self.bad = bad


class ReaderProcessError(Exception):
    """The process reading the files stopped without saying why (killed, out of memory)."""


def import_files(
    store: Store,
    paths: Sequence[Path],
    *,
    fmt: str | None = None,
    annotator: str | None = None,
    rejects: Path | None = None,
    parallel: bool | None = None,
) -> ImportReport:
    """Import `paths` into `store`. Raises ImportRejected (nothing written) if a row is bad and
    there is no `rejects` file, and FileFormatError if a whole file cannot be read.

    `parallel` reads the files in a second process (default: when there are several CPUs and the files
    hold at least PARALLEL_MIN_BYTES); the outcome is the same either way. Files that big are also
    written in bulk (see import_prepared: a refused big import leaves the project's content as it
    was, but not the file's change counter).
    """
    # The project itself (or its -wal) picked as a file to read, or to replace with the rejects: refused
    # before anything is read or written (see own_files).
    for path in [*paths, *([rejects] if rejects is not None else [])]:
        refuse_open_project_file(path)
    big = _total_size(paths) >= PARALLEL_MIN_BYTES
    if parallel is None:
        parallel = (os.cpu_count() or 1) > 1 and big
    read = _read_in_a_second_process if parallel else _read_here
    report = ImportReport()
    reject_on_bad = rejects is None
    reading = _Reading(list(paths), fmt, annotator, reject_on_bad, _CHUNK_ROWS)

    def produce(project_ids: Callable[[], dict[str, str]]) -> Iterator[PreparedChunk]:
        # From the start again if the transaction is retried
        report.rows, report.bad, report.quirks = 0, [], Quirks()
        with contextlib.closing(read(reading, project_ids)) as chunks:  # closing ends a reading process
            for chunk in chunks:
                report.rows += chunk.rows
                report.bad.extend(chunk.bad)
                report.quirks.add(chunk.quirks)
                if not (report.bad and reject_on_bad):  # else nothing will be written: read on to report
                    yield chunk.prepared
        if report.bad and reject_on_bad:
            raise ImportRejected(report.bad)  # rolls the transaction back

    counts = import_prepared(store, produce, big=big)
    if rejects is not None:
        write_rejects(rejects, report.bad)
    return dataclasses.replace(report, **dataclasses.asdict(counts))


def _total_size(paths: Sequence[Path]) -> int:
    total = 0
    for path in paths:
        with contextlib.suppress(OSError):  # reading it will say what is wrong
            total += os.stat(path).st_size
    return total


# --- reading: rows -> checked, prepared chunks -----------------------------------------------


@dataclass(frozen=True)
class _Reading:
    """What to read and how."""

    paths: list[Path]
    fmt: str | None  # None: told from each file
    annotator: str | None  # --annotator
    reject_on_bad: bool  # one bad row and nothing will be written
    chunk_rows: int


@dataclass
class _ReadChunk:
    rows: int  # rows read, good and bad
    bad: list[BadRow]
    prepared: PreparedChunk
    quirks: Quirks = field(default_factory=Quirks)


@dataclass
class _Checks:
    """What checking a row needs to know about the rows before it and about the project."""

    project_ids: Callable[[], dict[str, str]]  # the project's ids -> prompt hash, read when first needed
    known_ids: dict[str, str] | None = None
    id_first_seen: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # id -> (hash, file, line)
    judgement_copies: dict[str, int] = field(default_factory=dict)


def _read_here(reading: _Reading, project_ids: Callable[[], dict[str, str]]) -> Iterator[_ReadChunk]:
    """Read, check and prepare every row of the files, in order, as chunks of `chunk_rows` rows (a chunk
    holds rows of one file). Once a row is bad and `reject_on_bad`, the good rows after it are still
    checked but no longer prepared: they will not be written."""
    checks = _Checks(project_ids)
    annotator, reject_on_bad = reading.annotator, reading.reject_on_bad
    preparing = True
    for path in reading.paths:
        file_format = reading.fmt or detect_format(path)
        source = _source_name(Path(path))
        # JSON rows of the commonest shape are checked and prepared in one step (CSV cells and
        # parquet values need parse_row's conversions).
        plain_rows = file_format in ("jsonl", "json")
        chunk = _ReadChunk(0, [], PreparedChunk(source))
        for row in read_rows(path, file_format):
            chunk.rows += 1
            if isinstance(row, BadRow):
                chunk.bad.append(row)
            else:
                try:
                    plain = plain_prompt_row(row.data) if plain_rows else None
                    if plain is None:
                        item = parse_row(row.data, file_format)
                        _add(checks, chunk.prepared, item, annotator, row.file, row.line, prepare=preparing)
                        chunk.quirks.count(item)  # a plain row has none: no empty answer, no chat
                    else:
                        _add_plain(checks, chunk.prepared, plain, row.file, row.line, prepare=preparing)
                except RowError as error:
                    chunk.bad.append(BadRow(row.file, row.line, str(error), json.dumps(row.data, ensure_ascii=False)))
            if chunk.bad and reject_on_bad:
                preparing = False
            if chunk.rows == reading.chunk_rows:
                yield chunk
                chunk = _ReadChunk(0, [], PreparedChunk(source))
        if chunk.rows:
            yield chunk


def _source_name(path: Path) -> str:
    """The name an import records as the rows' source: the file's, without a .gz, so pairs.jsonl.gz
    and pairs.jsonl are one source and a judgement imported from both is recognised."""
    return path.stem if path.suffix.lower() == ".gz" else path.name


def _add(
    checks: _Checks,
    chunk: PreparedChunk,
    item: ImportedPrompt | ImportedRanking | ImportedPair,
    annotator: str | None,
    file: str,
    line: int,
    *,
    prepare: bool = True,
) -> None:
    """Add one parsed row to the chunk, or raise RowError if it clashes with another row's id. Without
    `prepare`, only check it."""
    if isinstance(item, ImportedPair):
        if prepare:
            texts = (item.chosen, item.rejected)
            prompt = prepare_prompt(item.prompt, ((item.chosen, None, {}), (item.rejected, None, {})))
            ranking = Ranking(((0,), (1,)), (item.margin,))  # None: the row states no margin
            who = annotator or item.annotator or DEFAULT_ANNOTATOR
            _add_judgement(checks, chunk, prompt, texts, who, ranking, None, "")
        return
    imported = item.prompt if isinstance(item, ImportedRanking) else item
    if not prepare:
        if imported.external_id is not None:
            _check_id(checks, imported.external_id, content_hash(imported.prompt), file, line)
        return
    prompt = prepare_prompt(
        imported.prompt,
        [(a.text, a.model, a.generation) for a in imported.answers],
        external_id=imported.external_id,
        metadata=imported.metadata,
    )
    if imported.external_id is not None:
        _check_id(checks, imported.external_id, prompt[0], file, line)
    if isinstance(item, ImportedRanking):
        who = annotator or item.annotator or DEFAULT_ANNOTATOR
        ranking = Ranking(item.tiers, item.stated_strengths)
        texts = [a.text for a in imported.answers]
        _add_judgement(checks, chunk, prompt, texts, who, ranking, item.likert, item.comment)
    else:
        chunk.prompts.append(prompt)


def _add_plain(checks: _Checks, chunk: PreparedChunk, plain: tuple, file: str, line: int, *, prepare: bool) -> None:
    """_add for what plain_prompt_row took from a row: a prompt with answers."""
    prepared = prepare_text_prompt(*plain)
    external_id = prepared[1]
    if external_id is not None:
        _check_id(checks, external_id, prepared[0], file, line)
    if prepare:
        chunk.prompts.append(prepared)


def _add_judgement(
    checks: _Checks,
    chunk: PreparedChunk,
    prompt: Any,
    texts: Sequence[str],
    who: str,
    ranking: Ranking,
    likert: int | None,
    comment: str,
) -> None:
    chunk.prompts.append(prompt)
    identity = imported_judgement_uuid(chunk.source, who, prompt, ranking, likert, comment, checks.judgement_copies)
    chunk.judgements.append(
        PreparedJudgement(len(chunk.prompts) - 1, identity, who, ranking, answers_hash(texts), likert, comment)
    )


def _check_id(checks: _Checks, external_id: str, digest: str, file: str, line: int) -> None:
    """One id must name one prompt, across the rows of this import and the project."""
    if checks.known_ids is None:
        checks.known_ids = checks.project_ids()
    if checks.known_ids.get(external_id, digest) != digest:
        raise RowError(f"id {external_id!r} already names a different prompt in the project")
    first = checks.id_first_seen.setdefault(external_id, (digest, file, line))
    if first[0] != digest:
        raise RowError(f"id {external_id!r} names a different prompt at {first[1]}:{first[2]}")


# --- reading in a second process -------------------------------------------------------------

_CHUNK, _NEED_IDS, _FAILED, _DONE = "chunk", "need-ids", "failed", "done"


def _read_in_a_second_process(reading: _Reading, project_ids: Callable[[], dict[str, str]]) -> Iterator[_ReadChunk]:
    """What _read_here yields, read by another process: this one only receives the chunks (and answers
    its one question, the project's ids, from the open transaction)."""
    context = multiprocessing.get_context(_start_method())
    answers: Any = context.SimpleQueue()
    chunks: Any = context.Queue(maxsize=_CHUNKS_AHEAD)
    process = context.Process(
        target=_reading_process,
        args=(reading, answers, chunks),
        name="labeler-import-reader",
        daemon=True,
    )
    process.start()
    try:
        while True:
            kind, payload = _receive(chunks, process)
            if kind == _CHUNK:
                yield payload
            elif kind == _NEED_IDS:
                answers.put(project_ids())
            elif kind == _FAILED:
                raise pickle.loads(payload)
            else:
                break
        process.join()
    finally:
        if process.is_alive():
            process.terminate()
            process.join()
        chunks.close()
        chunks.join_thread()
        answers.close()


def _start_method() -> str:
    """fork starts at once, but is only safe from a process with one thread (the GUI imports from a
    worker thread); else spawn, which starts a fresh interpreter."""
    return "fork" if threading.active_count() == 1 and os.name == "posix" else "spawn"


def _receive(chunks: Any, process: Any) -> tuple[str, Any]:
    while True:
        try:
            return chunks.get(timeout=_POLL_S)
        except queue.Empty:
            if process.is_alive():
                continue
        try:  # it ended: take what it sent just before, if anything
            return chunks.get(timeout=_POLL_S)
        except queue.Empty:
            raise ReaderProcessError(
                f"the process reading the files stopped unexpectedly (exit code {process.exitcode})"
            ) from None


def _reading_process(reading: _Reading, answers: Any, chunks: Any) -> None:
    """The second process: _read_here, each chunk put on `chunks`; ends with _DONE or _FAILED."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the writer's to handle: it ends this process
    gc.disable()  # nothing here makes cycles, and the collector would rescan every row (as in the CLI)

    def project_ids() -> dict[str, str]:
        chunks.put((_NEED_IDS, None))
        return answers.get()

    try:
        for chunk in _read_here(reading, project_ids):
            chunks.put((_CHUNK, chunk))
    except BaseException as error:  # sent whole, to be raised in the writer as if read there
        try:
            payload = pickle.dumps(error)
            pickle.loads(payload)  # some exceptions pickle but cannot be rebuilt
        except Exception:
            payload = pickle.dumps(ReaderProcessError(f"{type(error).__name__}: {error}"))
        chunks.put((_FAILED, payload))
    else:
        chunks.put((_DONE, None))


def write_rejects(path: Path, bad: Sequence[BadRow]) -> None:
    """The bad rows as JSON lines {"file", "line", "reason", "row"}, written whole or not at all."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            for row in bad:
                record = {"file": row.file, "line": row.line, "reason": row.reason, "row": row.raw}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
