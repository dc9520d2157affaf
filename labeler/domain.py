"""The rules of a judgement, with no I/O: rankings in tiers, the pairs they imply, validation.

A judgement of one prompt's K shown answers (2 <= K <= 9) is either
  - a ranking: an ordered list of tiers, best first, answers in one tier tied, with a strength
    between each two adjacent tiers (1 slightly better, 2 better, 3 much better; an imported
    pair's margin may be larger, or 0). Each step's strength was either stated (a person pressed
    a strength key, a file gave it) or not; a step not stated still counts as "better" (2) where a
    strength must be a positive number, but says nothing about how much better;
  - "all bad": every answer is unacceptable, so no answer is preferred and no pair is implied;
  - "skipped", with a reason.

Answers are named by their ids (ints) throughout; this module never looks them up.
Standard library only: the store, the importers, the GUI and the trainer all build on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

MIN_ANSWERS = 2
MAX_ANSWERS = 9
LIKERT_RANGE = range(1, 8)


class RankingError(ValueError):
    """A ranking or judgement that breaks the rules; the message says which rule."""


class Strength(IntEnum):
    """How much better one tier is than the next; summed into a pair's margin."""

    SLIGHTLY_BETTER = 1
    BETTER = 2
    MUCH_BETTER = 3


DEFAULT_STRENGTH = Strength.BETTER


class Outcome(StrEnum):
    RANKED = "ranked"
    ALL_BAD = "all_bad"
    SKIPPED = "skipped"
    # Not a decision: the row an undo appends, superseding the judgement it withdraws (never current).
    RETRACTED = "retracted"


DECISIONS = (Outcome.RANKED, Outcome.ALL_BAD, Outcome.SKIPPED)  # what a judgement can say


class Flag(StrEnum):
    """Problems an annotator can flag on one answer (the InstructGPT labelling list)."""

    FAILS_INSTRUCTION = "fails_instruction"
    HALLUCINATION = "hallucination"
    INAPPROPRIATE_FOR_ASSISTANT = "inappropriate_for_assistant"
    HARMFUL = "harmful"
    SEXUAL = "sexual"
    VIOLENT = "violent"
    PERSONAL_DATA = "personal_data"
    OTHER = "other"


@dataclass(frozen=True)
class Pair:
    """One preference implied by a ranking: `chosen` was ranked above `rejected`.

    `margin` sums the strengths between their tiers with the default (better) for every step not
    stated: always at least 1, what the store has recorded since its first version. `stated_margin`
    sums only the stated strengths between them (a stated 0 included), and is None when none of
    those steps was stated.
    """

    chosen: int
    rejected: int
    margin: int
    stated_margin: int | None = None


@dataclass(frozen=True)
class Ranking:
    """Tiers of answer ids, best first; `stated_strengths[i]` is the strength stated between tier i
    and tier i + 1, or None where none was (an annotator who never changed that step, a pair
    imported without a margin)."""

    tiers: tuple[tuple[int, ...], ...]
    stated_strengths: tuple[int | None, ...]

    def __post_init__(self) -> None:
        if not self.tiers:
            raise RankingError("a ranking needs at least one tier")
        if any(not tier for tier in self.tiers):
            raise RankingError("a tier of a ranking is empty")
        placed = [answer for tier in self.tiers for answer in tier]
        if len(placed) != len(set(placed)):
            twice = sorted({a for a in placed if placed.count(a) > 1})
            raise RankingError(f"answers placed more than once: {twice}")
        if len(self.stated_strengths) != len(self.tiers) - 1:
            raise RankingError(
                f"{len(self.tiers)} tiers need {len(self.tiers) - 1} strengths, got {len(self.stated_strengths)}"
            )
        for strength in self.stated_strengths:
            # An annotator chooses 1-3 (Strength); an imported pair may state a larger margin (a
            # margin sums the strengths of several steps), stored as one step of that size, or 0:
            # "no margin", which TRL's files write.
            if strength is not None and (isinstance(strength, bool) or not isinstance(strength, int) or strength < 0):
                raise RankingError(
                    f"strength must be a whole number of at least 0, or None where none was stated, got {strength!r}"
                )

    @classmethod
    def of(cls, tiers: Iterable[Iterable[int] | int], strengths: Iterable[int | None] | None = None) -> Ranking:
        """Build from a list whose items are answer ids or lists of tied ids: `[[2, 0], 1, 3]`.

        `strengths` are the stated ones (None for a step whose strength was not stated); without
        them no step's strength was stated.
        """
        normalised = tuple((item,) if isinstance(item, int) else tuple(item) for item in tiers)
        if strengths is None:
            return cls(normalised, (None,) * max(len(normalised) - 1, 0))
        return cls(normalised, tuple(strengths))

    @property
    def strengths(self) -> tuple[int, ...]:
        """Each step's strength as a positive number: the stated one, or the default (better) where
        none was stated or the stated one is 0 -- the strengths the store has always recorded, and
        what readers written before strengths could go unstated still read."""
        return tuple(int(strength or DEFAULT_STRENGTH) for strength in self.stated_strengths)

    @property
    def answers(self) -> frozenset[int]:
        return frozenset(answer for tier in self.tiers for answer in tier)


def recorded_stated_strengths(
    strengths: Sequence[int], stated_strengths: Sequence[int | None] | None
) -> tuple[int | None, ...]:
    """The stated strengths of a ranking as the store recorded it: `stated_strengths` where it holds
    them, else (None) inferred from its `strengths`.

    Rankings recorded before the store kept which strengths were stated (migration m004) hold only
    their strengths, with the default filled in, and this is the one place that decides what they
    stated: a strength other than the default can only have come from a person or a file, so it was
    stated; a default one may have been stated or filled in, and counts as not stated.
    """
    if stated_strengths is not None:
        return tuple(stated_strengths)
    return tuple(None if strength == DEFAULT_STRENGTH else strength for strength in strengths)


def validate_ranking(ranking: Ranking, answer_ids: Iterable[int]) -> None:
    """Raise RankingError unless `ranking` places every one of `answer_ids` exactly once."""
    expected = list(answer_ids)
    if len(expected) != len(set(expected)):
        raise RankingError("the shown answers contain the same answer twice")
    if not MIN_ANSWERS <= len(expected) <= MAX_ANSWERS:
        raise RankingError(f"a judgement covers {MIN_ANSWERS} to {MAX_ANSWERS} answers, got {len(expected)}")
    missing = set(expected) - ranking.answers
    unknown = ranking.answers - set(expected)
    if missing:
        raise RankingError(f"answers not placed in the ranking: {sorted(missing)}")
    if unknown:
        raise RankingError(f"the ranking places answers that were not shown: {sorted(unknown)}")


def ranking_to_pairs(ranking: Ranking) -> list[Pair]:
    """Every pair the ranking implies, best tiers first.

    One pair for every two answers in different tiers -- K(K-1)/2 minus the tied pairs -- with
    margin = the sum of the strengths between their tiers, and stated_margin = the sum of the
    stated ones among them (None if none was stated). A step not stated adds nothing to the stated
    margin rather than making it unknown: so a pair that spans more tiers never has a smaller
    stated margin than a pair it spans.
    """
    strengths = ranking.strengths
    pairs = []
    for upper, upper_tier in enumerate(ranking.tiers):
        margin, stated_margin = 0, None
        for lower in range(upper + 1, len(ranking.tiers)):
            margin += strengths[lower - 1]
            stated = ranking.stated_strengths[lower - 1]
            if stated is not None:
                stated_margin = (stated_margin or 0) + stated
            for chosen in upper_tier:
                for rejected in ranking.tiers[lower]:
                    pairs.append(Pair(chosen, rejected, margin, stated_margin))
    return pairs


class PairSelection(StrEnum):
    """Which of a ranking's pairs to export."""

    ALL = "all"  # every two answers in different tiers
    ADJACENT = "adjacent"  # only answers in neighbouring tiers
    BEST_VS_REST = "best-vs-rest"  # each best-tier answer against every answer below it


def select_pairs(ranking: Ranking, selection: PairSelection) -> list[Pair]:
    """The subset of ranking_to_pairs(ranking) that `selection` names, with the same margins."""
    tier_of = {answer: index for index, tier in enumerate(ranking.tiers) for answer in tier}
    pairs = ranking_to_pairs(ranking)
    if selection is PairSelection.ADJACENT:
        return [p for p in pairs if tier_of[p.rejected] == tier_of[p.chosen] + 1]
    if selection is PairSelection.BEST_VS_REST:
        return [p for p in pairs if tier_of[p.chosen] == 0]
    return pairs


@dataclass(frozen=True)
class Judgement:
    """What one annotator decided about one prompt's shown answers.

    Build with `Judgement.ranked(...)`, `Judgement.all_bad()` or `Judgement.skipped(reason)`.
    `flags` maps an answer id to the problems flagged on it; `likert` (1-7) rates the best answer.
    """

    outcome: Outcome
    ranking: Ranking | None = None
    skip_reason: str | None = None
    flags: Mapping[int, frozenset[Flag]] = field(default_factory=dict)
    likert: int | None = None
    comment: str = ""

    @classmethod
    def ranked(cls, ranking: Ranking, **details) -> Judgement:
        return cls(Outcome.RANKED, ranking=ranking, **details)

    @classmethod
    def all_bad(cls, **details) -> Judgement:
        return cls(Outcome.ALL_BAD, **details)

    @classmethod
    def skipped(cls, reason: str, **details) -> Judgement:
        return cls(Outcome.SKIPPED, skip_reason=reason, **details)

    def __post_init__(self) -> None:
        if (self.outcome is Outcome.RANKED) != (self.ranking is not None):
            raise RankingError("a ranking is given exactly when the outcome is 'ranked'")
        if self.outcome is Outcome.SKIPPED and not (self.skip_reason or "").strip():
            raise RankingError("a skipped judgement needs a reason")
        if self.outcome is not Outcome.SKIPPED and self.skip_reason is not None:
            raise RankingError("only a skipped judgement has a skip reason")
        if self.likert is not None and self.likert not in LIKERT_RANGE:
            raise RankingError(f"the overall quality score is 1 to 7, got {self.likert!r}")
        for answer, answer_flags in self.flags.items():
            for flag in answer_flags:
                if not isinstance(flag, Flag):
                    raise RankingError(f"unknown flag {flag!r} on answer {answer}")

    def validate(self, shown_answer_ids: Sequence[int]) -> None:
        """Raise RankingError unless this judgement fits the answers that were shown."""
        if not MIN_ANSWERS <= len(shown_answer_ids) <= MAX_ANSWERS:
            raise RankingError(
                f"a judgement covers {MIN_ANSWERS} to {MAX_ANSWERS} answers, got {len(shown_answer_ids)}"
            )
        if self.ranking is not None:
            validate_ranking(self.ranking, shown_answer_ids)
        stray = set(self.flags) - set(shown_answer_ids)
        if stray:
            raise RankingError(f"flags on answers that were not shown: {sorted(stray)}")

    def pairs(self) -> list[Pair]:
        """The pairs this judgement implies: a ranking's pairs; none for "all bad" or "skipped"."""
        return ranking_to_pairs(self.ranking) if self.ranking is not None else []
