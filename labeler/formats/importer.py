"""`labeler import`: files of prompts, answers, rankings or pairs into a project, all or nothing.

Every row of every file is read and checked first. By default one bad row stops the import and
nothing is written; with a rejects file the good rows are imported and the bad ones are written
there with their reasons. The good rows then go into the project in one transaction.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labeler.domain import DEFAULT_STRENGTH, Ranking
from labeler.formats.reading import BadRow, detect_format, read_rows
from labeler.formats.rows import ImportedPair, ImportedPrompt, ImportedRanking, RowError, parse_row
from labeler.store import Store, content_hash
from labeler.store.importing import JudgementToImport, PromptToImport, external_id_owners, import_batch

DEFAULT_ANNOTATOR = "import"


@dataclass
class ImportReport:
    rows: int = 0
    prompts_added: int = 0
    answers_added: int = 0
    judgements_added: int = 0
    judgements_already_there: int = 0
    pairs_added: int = 0
    bad: list[BadRow] = field(default_factory=list)


class ImportRejected(Exception):
    """Bad rows and no rejects file: nothing was imported."""

    def __init__(self, bad: list[BadRow]):
        super().__init__(f"{len(bad)} bad rows; nothing was imported")
        self.bad = bad


@dataclass
class _Batch:
    """What the good rows add up to, with where each prompt id was first seen."""

    store: Store
    prompts: list[PromptToImport] = field(default_factory=list)
    judgements: list[JudgementToImport] = field(default_factory=list)
    id_first_seen: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # id -> (hash, file, line)
    project_ids: dict[str, str] | None = None  # the project's ids -> prompt hash, read when first needed


def import_files(
    store: Store,
    paths: Sequence[Path],
    *,
    fmt: str | None = None,
    annotator: str | None = None,
    rejects: Path | None = None,
) -> ImportReport:
    """Import `paths` into `store`. Raises ImportRejected (nothing written) if a row is bad and
    there is no `rejects` file, and FileFormatError if a whole file cannot be read."""
    report = ImportReport()
    batch = _Batch(store)
    for path in paths:
        file_format = fmt or detect_format(path)
        source = Path(path).name
        for row in read_rows(path, file_format):
            report.rows += 1
            if isinstance(row, BadRow):
                report.bad.append(row)
                continue
            try:
                _add(batch, parse_row(row.data, file_format), source, annotator, row.file, row.line)
            except RowError as error:
                report.bad.append(BadRow(row.file, row.line, str(error), json.dumps(row.data, ensure_ascii=False)))
    if report.bad and rejects is None:
        raise ImportRejected(report.bad)
    counts = import_batch(store, batch.prompts, batch.judgements)
    report.prompts_added = counts.prompts_added
    report.answers_added = counts.answers_added
    report.judgements_added = counts.judgements_added
    report.judgements_already_there = counts.judgements_already_there
    report.pairs_added = counts.pairs_added
    if rejects is not None:
        write_rejects(rejects, report.bad)
    return report


def _add(
    batch: _Batch,
    item: ImportedPrompt | ImportedRanking | ImportedPair,
    source: str,
    annotator: str | None,
    file: str,
    line: int,
) -> None:
    """Add one parsed row to the batch, or raise RowError if it clashes with another row's id."""
    if isinstance(item, ImportedPair):
        prompt = PromptToImport(
            prompt=item.prompt,
            answers=(item.chosen, item.rejected),
            models=(None, None),
            generations=({}, {}),
            source=source,
        )
        ranking = Ranking(((0,), (1,)), (item.margin or DEFAULT_STRENGTH,))
        who = annotator or item.annotator or DEFAULT_ANNOTATOR
        batch.prompts.append(prompt)
        batch.judgements.append(JudgementToImport(len(batch.prompts) - 1, who, ranking, source))
        return
    imported = item.prompt if isinstance(item, ImportedRanking) else item
    prompt = PromptToImport(
        prompt=imported.prompt,
        answers=tuple(a.text for a in imported.answers),
        models=tuple(a.model for a in imported.answers),
        generations=tuple(a.generation for a in imported.answers),
        source=source,
        external_id=imported.external_id,
        metadata=imported.metadata,
    )
    if imported.external_id is not None:
        _check_id(batch, imported.external_id, content_hash(imported.prompt), file, line)
    batch.prompts.append(prompt)
    if isinstance(item, ImportedRanking):
        who = annotator or item.annotator or DEFAULT_ANNOTATOR
        ranking = Ranking(item.tiers, item.strengths)
        batch.judgements.append(
            JudgementToImport(len(batch.prompts) - 1, who, ranking, source, likert=item.likert, comment=item.comment)
        )


def _check_id(batch: _Batch, external_id: str, digest: str, file: str, line: int) -> None:
    """One id must name one prompt, across the rows of this import and the project."""
    if batch.project_ids is None:
        batch.project_ids = external_id_owners(batch.store)
    if batch.project_ids.get(external_id, digest) != digest:
        raise RowError(f"id {external_id!r} already names a different prompt in the project")
    first = batch.id_first_seen.setdefault(external_id, (digest, file, line))
    if first[0] != digest:
        raise RowError(f"id {external_id!r} names a different prompt at {first[1]}:{first[2]}")


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
