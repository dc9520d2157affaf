"""The keyboard ranking scheme as a small state machine, with no Qt in it so it is tested directly.

The annotator types the numbers of the shown answers (1..K, as numbered on the cards) from best to
worst: `3 1 4 2` means 3 is best. `=` before a number ties it with the previous one (`3 = 1 4 2`).
Backspace takes back the last key: a placement, or an `=` (so `= 2` takes two). Shift+Up / Shift+Down raise or lower the
strength between the last two tiers (1 slightly better, 2 better, 3 much better). The ranking is
complete when every answer is placed; then it becomes a domain Ranking over the answers' ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labeler.domain import DEFAULT_STRENGTH, Ranking, Strength


class RankingInputError(ValueError):
    """A key that does not apply now; the message is for the status bar."""


@dataclass
class RankingInput:
    """What has been typed so far for K answers numbered 1..K."""

    answer_count: int
    tiers: list[list[int]] = field(default_factory=list)  # answer numbers (1-based), best tier first
    strengths: list[int] = field(default_factory=list)  # between tier i and i + 1
    tie_pending: bool = False  # "=" typed: the next number joins the last tier

    @property
    def placed(self) -> list[int]:
        return [number for tier in self.tiers for number in tier]

    @property
    def is_complete(self) -> bool:
        return len(self.placed) == self.answer_count

    def place(self, number: int) -> None:
        if not 1 <= number <= self.answer_count:
            raise RankingInputError(f"there is no answer {number}: the answers are 1 to {self.answer_count}")
        if number in self.placed:
            raise RankingInputError(f"answer {number} is already placed")
        if self.tie_pending and self.tiers:
            self.tiers[-1].append(number)
        else:
            if self.tiers:
                self.strengths.append(DEFAULT_STRENGTH)
            self.tiers.append([number])
        self.tie_pending = False

    def tie_next(self) -> None:
        if not self.tiers:
            raise RankingInputError("place an answer first: '=' ties the next one with it")
        if self.is_complete:
            raise RankingInputError("every answer is placed")
        self.tie_pending = True

    def take_back(self) -> None:
        """Undo the last key that changed the ranking: a pending '=', else the last placement."""
        if self.tie_pending:
            self.tie_pending = False
            return
        if not self.tiers:
            raise RankingInputError("nothing to take back")
        self.tiers[-1].pop()
        if self.tiers[-1]:
            self.tie_pending = True  # that answer was tied on with '=': the '=' is the step before it
        else:
            self.tiers.pop()
            if self.strengths:
                self.strengths.pop()

    def change_strength(self, step: int) -> int:
        """Raise (+1) or lower (-1) the strength between the last two tiers; returns the new one."""
        if not self.strengths:
            raise RankingInputError("strength is between two tiers: place answers in two tiers first")
        new = min(max(self.strengths[-1] + step, Strength.SLIGHTLY_BETTER), Strength.MUCH_BETTER)
        self.strengths[-1] = int(new)
        return self.strengths[-1]

    def tier_of(self, number: int) -> int | None:
        """The 0-based tier of answer `number`, or None if not placed yet."""
        for index, tier in enumerate(self.tiers):
            if number in tier:
                return index
        return None

    def to_ranking(self, answer_ids: list[int]) -> Ranking:
        """The complete ranking over the ids of the answers as numbered (answer_ids[0] is answer 1)."""
        if not self.is_complete:
            missing = sorted(set(range(1, self.answer_count + 1)) - set(self.placed))
            raise RankingInputError(f"place every answer first (still to place: {', '.join(map(str, missing))})")
        return Ranking(
            tuple(tuple(answer_ids[number - 1] for number in tier) for tier in self.tiers), tuple(self.strengths)
        )

    def describe(self) -> str:
        """The ranking so far as the annotator would type it: `3 = 1 > 4 >> 2` (>, >>, >>> by strength)."""
        parts = []
        for index, tier in enumerate(self.tiers):
            if index:
                parts.append(">" * self.strengths[index - 1])
            parts.append(" = ".join(map(str, tier)))
        if self.tie_pending:
            parts.append("=")
        return " ".join(parts)

    # -- drafts: the state is saved as it changes, so a crash loses nothing --------------------------

    def to_draft(self) -> dict[str, Any]:
        return {"tiers": self.tiers, "strengths": self.strengths, "tie_pending": self.tie_pending}

    @classmethod
    def from_draft(cls, answer_count: int, draft: dict[str, Any]) -> RankingInput:
        """Rebuild from a saved draft by replaying it, so a damaged draft cannot make a bad state."""
        restored = cls(answer_count)
        for index, tier in enumerate(draft.get("tiers", [])):
            for position, number in enumerate(tier):
                if position:
                    restored.tie_next()
                restored.place(number)
            if index and index - 1 < len(draft.get("strengths", [])):
                restored.strengths[index - 1] = int(
                    min(max(draft["strengths"][index - 1], Strength.SLIGHTLY_BETTER), Strength.MUCH_BETTER)
                )
        if draft.get("tie_pending") and restored.tiers and not restored.is_complete:
            restored.tie_pending = True
        return restored
