"""The judgements an annotator saved in this session, as an undo stack: Ctrl+Z withdraws the last one,
Ctrl+Shift+Z saves it again.

Qt's QUndoStack keeps the order, what can be undone or redone and the undo limit. Each entry is a
`Submission`: what was saved (enough to save it again) and the uuid it is saved under now. Undo
appends a retraction (nothing is deleted, see Store.retract_judgement); redo records the same
judgement again under a new uuid.

A write can fail (another program holds the project's write lock), but QUndoStack steps its index
whatever a command's undo() or redo() does. So the write is made first and the stack is stepped
only once it has succeeded: a failed undo leaves the entry where it was, to be tried again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtGui import QUndoCommand, QUndoStack

from labeler.domain import Judgement
from labeler.store import RecordedJudgement, Store

UNDO_LIMIT = 100  # a session's worth of going back; older entries are dropped from the stack, not the file


@dataclass(frozen=True)
class SavedJudgement:
    """What one Enter (or A, or S) saves: record_judgement's arguments, so it can be saved again."""

    prompt_id: int
    annotator: str
    judgement: Judgement
    display_order: tuple[int, ...]
    seconds_spent: float | None = None
    guideline_version: int | None = None
    supersedes: str | None = None  # the uuid this one corrects

    def record(self, store: Store, judgement_uuid: str | None = None) -> RecordedJudgement:
        """Save it; the same `judgement_uuid` on a retry saves it once (see Store.record_judgement)."""
        return store.record_judgement(
            self.prompt_id,
            self.annotator,
            self.judgement,
            self.display_order,
            seconds_spent=self.seconds_spent,
            guideline_version=self.guideline_version,
            supersedes=self.supersedes,
            judgement_uuid=judgement_uuid,
        )


class Submission(QUndoCommand):
    """One saved judgement on the stack. Its undo() and redo() only note the step: the writes are made
    by SubmissionHistory before it steps the stack (see the module's docstring)."""

    def __init__(self, saved: SavedJudgement, judgement_uuid: str):
        super().__init__(f"judgement of prompt {saved.prompt_id}")
        self.saved = saved
        self.judgement_uuid = judgement_uuid  # the row that is current while this entry is done
        self.done = True

    def redo(self) -> None:
        self.done = True

    def undo(self) -> None:
        self.done = False


class SubmissionHistory:
    def __init__(self) -> None:
        self.stack = QUndoStack()
        self.stack.setUndoLimit(UNDO_LIMIT)

    def saved(self, saved: SavedJudgement, recorded: RecordedJudgement) -> None:
        """Note a judgement that was just saved (its redo() on push only notes it: nothing is written)."""
        self.stack.push(Submission(saved, recorded.uuid))

    def clear(self) -> None:
        """Another project was opened: its judgements are not this stack's to withdraw."""
        self.stack.clear()

    def can_undo(self) -> bool:
        return self.stack.canUndo()

    def can_redo(self) -> bool:
        return self.stack.canRedo()

    def undo(self, store: Store) -> tuple[Submission, RecordedJudgement]:
        """Withdraw the newest saved judgement: the entry and the retraction row. Raises StoreError
        (the stack unchanged) if the retraction cannot be written."""
        entry = self.stack.command(self.stack.index() - 1)
        retraction = store.retract_judgement(entry.judgement_uuid, entry.saved.annotator)
        self.stack.undo()
        return entry, retraction

    def redo(self, store: Store) -> tuple[Submission, RecordedJudgement]:
        """Save the newest withdrawn judgement again, as it was (a new row: the withdrawn one stays
        retracted). Raises StoreError (the stack unchanged) if it cannot be written."""
        entry = self.stack.command(self.stack.index())
        # Not as a correction again: what it corrected is already superseded (by this entry's first row).
        recorded = replace(entry.saved, supersedes=None).record(store)
        entry.judgement_uuid = recorded.uuid
        self.stack.redo()
        return entry, recorded
