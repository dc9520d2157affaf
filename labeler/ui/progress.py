"""The annotator's progress for the status bar: prompts done of those they could do, today's count
and pace. Counted from the file when a project opens (or after an import), on a worker thread,
then kept up to date by the window as it saves, so a save costs no counting query: on a project
of 100,000 prompts the counts take 0.25-1 s, far over the GUI thread's budget.

The count is taken in one read transaction together with the newest judgement's id, so what the
window saved meanwhile is added exactly once: saves with a higher id are replayed on the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from labeler.store import Store
from labeler.store.queue import judged_since, progress


def local_midnight(now: datetime) -> datetime:
    return now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class Progress:
    done: int  # prompts with a current judgement of this annotator's (ranked, all bad or skipped)
    total: int  # prompts they could judge (2 to 9 answers)
    today: int  # judgements saved since local midnight (corrections too; not withdrawals)
    first_today: datetime | None  # when the first of those was saved, for the pace
    day: date  # the local day `today` counts

    @classmethod
    def count(cls, store: Store, annotator: str, now: datetime | None = None) -> Progress:
        return cls.count_with_mark(store, annotator, now)[0]

    @classmethod
    def count_with_mark(cls, store: Store, annotator: str, now: datetime | None = None) -> tuple[Progress, int]:
        """The counts, and the id of the newest judgement they include (one snapshot of the file)."""
        now = (now or datetime.now()).astimezone()
        store.conn.execute("BEGIN")  # a read transaction: every count sees the same judgements
        try:
            done, total = progress(store, annotator)
            today, first = judged_since(store, annotator, local_midnight(now))
            (mark,) = store.conn.execute("SELECT COALESCE(MAX(id), 0) FROM judgements").fetchone()
        finally:
            store.conn.execute("COMMIT")
        first_time = datetime.fromisoformat(first.replace("Z", "+00:00")) if first else None
        return cls(done, total, today, first_time, now.date()), mark

    def roll(self, now: datetime | None = None) -> None:
        """Past midnight, today's count starts again."""
        now = (now or datetime.now()).astimezone()
        if now.date() != self.day:
            self.today, self.first_today, self.day = 0, None, now.date()

    def saved(self, correction: bool, now: datetime | None = None) -> None:
        """A judgement was saved: a new prompt done, unless it corrects one already done."""
        now = (now or datetime.now()).astimezone()
        self.roll(now)
        self.today += 1
        self.first_today = self.first_today or now
        if not correction:
            self.done += 1

    def withdrawn(self) -> None:
        """The last judgement was withdrawn (Ctrl+Z): its prompt is to do again."""
        self.done = max(self.done - 1, 0)

    def pace(self, now: datetime | None = None) -> float | None:
        """Judgements per hour today, once there are two (the first hour counts as at least a minute)."""
        now = (now or datetime.now()).astimezone()
        self.roll(now)
        if self.first_today is None or self.today < 2:
            return None
        hours = (now - self.first_today).total_seconds() / 3600
        return self.today / max(hours, 1 / 60)
