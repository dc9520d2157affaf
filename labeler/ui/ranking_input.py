"""The keyboard ranking scheme as a small state machine, with no Qt in it so it is tested directly.

The annotator types the numbers of the shown answers (1..K, as numbered on the cards) from best to
worst: `3 1 4 2` means 3 is best. `=` before a number ties it with the previous one (`3 = 1 4 2`).
When one answer is left it is placed last by itself, so `3 1 4` is a whole ranking and a pair takes
one key (`2`, then Enter); typing that last number anyway, or `=` to tie it with the one before
(`2 = 1`), works as before, and a strength key still sets the step into the answer last typed.
Backspace takes back the last key: a placement, or an `=` (so `= 2` takes two). Shift+Up /
Shift+Down raise or lower the strength between the last two tiers (1 slightly better, 2 better,
3 much better); a step whose strength was never set so is not stated: it shows the default,
better. Answers dragged in the ranking strip move into a tier (a tie), between tiers, or out of the
ranking. The ranking is complete when every answer is placed; then it becomes a domain Ranking over
the answers' ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labeler.domain import DEFAULT_STRENGTH, Ranking, Strength, recorded_stated_strengths


class RankingInputError(ValueError):
    """A key that does not apply now; the message is for the status bar."""


@dataclass
class RankingInput:
    """What has been typed so far for K answers numbered 1..K."""

    answer_count: int
    tiers: list[list[int]] = field(default_factory=list)  # answer numbers (1-based), best tier first
    # Between tier i and i + 1: the strength set with Shift+Up/Down, None for a step never set so.
    stated_strengths: list[int | None] = field(default_factory=list)
    tie_pending: bool = False  # "=" typed: the next number joins the last tier
    auto_placed: int | None = None  # the answer placed last by itself (see the module docstring)

    @property
    def strengths(self) -> list[int]:
        """The strengths shown between the tiers: the default (better) for a step not stated."""
        return [int(DEFAULT_STRENGTH) if strength is None else strength for strength in self.stated_strengths]

    @property
    def placed(self) -> list[int]:
        return [number for tier in self.tiers for number in tier]

    @property
    def is_complete(self) -> bool:
        return len(self.placed) == self.answer_count

    def place(self, number: int, *, place_the_last: bool = True) -> None:
        """Place answer `number` next (a key); with one answer left, that one is placed last by itself
        (not while a draft is replayed, which restores exactly what was placed)."""
        if not 1 <= number <= self.answer_count:
            raise RankingInputError(f"there is no answer {number}: the answers are 1 to {self.answer_count}")
        if number == self.auto_placed:  # typed anyway: it stays there, now placed by the annotator (so a
            self.auto_placed = None  # strength key is for the step into it, as for any answer just typed)
            return
        if number in self.placed:
            raise RankingInputError(f"answer {number} is already placed")
        if self.tie_pending and self.tiers:
            self.tiers[-1].append(number)
        else:
            if self.tiers:
                self.stated_strengths.append(None)
            self.tiers.append([number])
        self.tie_pending = False
        if place_the_last:
            self._place_the_last()

    def tie_next(self) -> None:
        if not self.tiers:
            raise RankingInputError("place an answer first: '=' ties the next one with it")
        if self.auto_placed is not None:
            self._drop_auto_placed()  # '=' then that answer's number ties it with the one before
        elif self.is_complete:
            raise RankingInputError("every answer is placed")
        self.tie_pending = True

    def _drop_auto_placed(self) -> None:
        self.tiers.pop()
        self.stated_strengths.pop()
        self.auto_placed = None

    def take_back(self) -> None:
        """Undo the last key that changed the ranking: a pending '=', else the last placement (with the
        answer it placed last by itself)."""
        if self.auto_placed is not None:
            self._drop_auto_placed()
        if self.tie_pending:
            self.tie_pending = False
        elif not self.tiers:
            raise RankingInputError("nothing to take back")
        else:
            self.tiers[-1].pop()
            if self.tiers[-1]:
                self.tie_pending = True  # that answer was tied on with '=': the '=' is the step before it
            else:
                self.tiers.pop()
                if self.stated_strengths:
                    self.stated_strengths.pop()
        self._place_the_last()  # as before the key taken back, when it left one answer

    def _place_the_last(self) -> None:
        """With one answer left and no '=' pending, that answer is placed last, by itself."""
        left = [n for n in range(1, self.answer_count + 1) if n not in self.placed]
        if len(left) == 1 and self.tiers and not self.tie_pending:
            self.tiers.append(left)
            self.stated_strengths.append(None)
            self.auto_placed = left[0]

    def change_strength(self, step: int) -> int:
        """Raise (+1) or lower (-1) the strength of the step into the last answer typed (between the last
        two tiers; before the answer placed last by itself, unless that is the only step), which states it
        (even where it stays as it was: at the end of the scale, or back where it was); returns the new one."""
        if not self.stated_strengths:
            raise RankingInputError("strength is between two tiers: place answers in two tiers first")
        index = -2 if self.auto_placed is not None and len(self.stated_strengths) > 1 else -1
        new = min(max(self.strengths[index] + step, Strength.SLIGHTLY_BETTER), Strength.MUCH_BETTER)
        self.stated_strengths[index] = int(new)
        return self.stated_strengths[index]

    # -- dragging in the ranking strip: an answer dropped into a tier, between tiers, or out -------

    def move_into_tier(self, number: int, tier: int) -> None:
        """Drop answer `number` into tier `tier` (0-based, as the tiers are before the move): a tie."""
        self._check_number(number)
        if not 0 <= tier < len(self.tiers):
            raise RankingInputError(f"there is no tier {tier + 1}")
        if number in self.tiers[tier]:
            return
        target = self.tiers[tier]
        self._remove(number)
        target.append(number)

    def move_to_new_tier(self, number: int, position: int) -> None:
        """Drop answer `number` alone between tiers: `position` 0 is above the best tier,
        len(tiers) below the worst (positions as the tiers are before the move)."""
        self._check_number(number)
        if not 0 <= position <= len(self.tiers):
            raise RankingInputError(f"there is no place {position + 1} in the ranking")
        anchor = self.tiers[position] if position < len(self.tiers) else None
        if anchor == [number]:
            return  # dropped just above itself, alone in its tier: nothing moves
        self._remove(number)
        # The tier that was at `position` may have moved up a place if `number` left a tier above it.
        index = len(self.tiers) if anchor is None else next(i for i, tier in enumerate(self.tiers) if tier is anchor)
        self.tiers.insert(index, [number])
        if len(self.tiers) > 1:
            # The new tier's step to its neighbour below (or above, at the end) is not stated; the
            # strength between the tiers it was put between stays on the upper side.
            self.stated_strengths.insert(min(index, len(self.stated_strengths)), None)

    def unplace(self, number: int) -> None:
        """Drag answer `number` out of the ranking, back to the answers not placed yet."""
        self._check_number(number)
        self._remove(number)

    def _check_number(self, number: int) -> None:
        if not 1 <= number <= self.answer_count:
            raise RankingInputError(f"there is no answer {number}: the answers are 1 to {self.answer_count}")

    def _remove(self, number: int) -> None:
        """Take `number` out of its tier; an emptied tier goes with the strength below it (the one
        above it, for the last tier). A pending '=' is dropped: a drag ends any typing in progress, and
        an answer placed last by itself is the annotator's from then on."""
        self.tie_pending = False
        self.auto_placed = None
        index = self.tier_of(number)
        if index is None:
            return
        self.tiers[index].remove(number)
        if not self.tiers[index]:
            del self.tiers[index]
            if self.stated_strengths:
                del self.stated_strengths[min(index, len(self.stated_strengths) - 1)]

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
            tuple(tuple(answer_ids[number - 1] for number in tier) for tier in self.tiers),
            tuple(self.stated_strengths),
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
        return {
            "tiers": self.tiers,
            "stated_strengths": self.stated_strengths,
            "tie_pending": self.tie_pending,
            "auto_placed": self.auto_placed,
        }

    @classmethod
    def from_draft(cls, answer_count: int, draft: dict[str, Any]) -> RankingInput:
        """Rebuild from a saved draft by replaying it, so a damaged draft cannot make a bad state.

        A draft saved before steps could go unstated has "strengths" instead of "stated_strengths":
        what it stated is decided as for a judgement recorded then (domain.recorded_stated_strengths).
        """
        stated = draft.get("stated_strengths")
        if stated is None:
            stated = recorded_stated_strengths(draft.get("strengths", []), None)
        restored = cls(answer_count)
        for index, tier in enumerate(draft.get("tiers", [])):
            for position, number in enumerate(tier):
                if position:
                    restored.tie_next()
                restored.place(number, place_the_last=False)
            if index and index - 1 < len(stated) and stated[index - 1] is not None:
                restored.stated_strengths[index - 1] = int(
                    min(max(stated[index - 1], Strength.SLIGHTLY_BETTER), Strength.MUCH_BETTER)
                )
        if draft.get("tie_pending") and restored.tiers and not restored.is_complete:
            restored.tie_pending = True
        if restored.tiers and draft.get("auto_placed") is not None and restored.tiers[-1] == [draft["auto_placed"]]:
            restored.auto_placed = draft["auto_placed"]
        return restored
