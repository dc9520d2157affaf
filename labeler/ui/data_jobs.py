"""What the window's File ▸ Import, Export and Snapshot and its status-bar counts do, on a worker
thread (labeler.ui.jobs): each takes the job's own store and returns the line the status bar shows.

The importer and exporter are imported inside the functions: they pull in pyarrow and numpy (0.4 s),
which the window does not need to open."""

from __future__ import annotations

from pathlib import Path

from labeler.store import Store, StoreError
from labeler.store.snapshots import snapshot
from labeler.wording import counted


def import_files(store: Store, files: list[Path]) -> str:
    from labeler.formats import importer

    try:
        report = importer.import_files(store, files)
    except importer.ImportRejected as rejected:
        shown = "\n".join(f"{bad.file}:{bad.line}: {bad.reason}" for bad in rejected.bad[:20])
        more = f"\n… and {len(rejected.bad) - 20:,} more" if len(rejected.bad) > 20 else ""
        raise StoreError(f"Nothing was imported: {counted(len(rejected.bad), 'bad row')}.\n{shown}{more}") from None
    summary = (
        f"Imported {counted(report.rows, 'row')}: {counted(report.prompts_added, 'prompt')}, "
        f"{counted(report.answers_added, 'answer')}, {counted(report.judgements_added, 'judgement')}"
    )
    return "; ".join([summary, *report.quirks.summary_lines()])


def stats_line(store: Store) -> str:
    stats = store.stats()
    return (
        f"{counted(stats.prompts, 'prompt')} · {counted(stats.answers, 'answer')} · "
        f"{counted(stats.judgements, 'judgement')} · {counted(stats.pairs, 'pair')} · "
        f"{counted(stats.annotators, 'annotator')}"
    )


def export_project(store: Store, out: Path) -> str:
    from labeler.formats import export

    fmt = export.ExportFormat.CSV if out.suffix == ".csv" else export.ExportFormat.TRL_CONVERSATIONAL
    report = export.export_project(store, out, fmt=fmt)
    return f"Wrote {counted(report.rows['train'], 'pair')} to {out}; {report.margins.summary()}"


def snapshot_project(store: Store, out: Path) -> str:
    return f"Wrote {snapshot(store, out)}"
