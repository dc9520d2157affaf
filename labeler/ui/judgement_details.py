"""What an annotator adds to a ranking: flags on answers, a 1-7 quality rating, a comment. No Qt in it.

The one value for these details, beside RankingInput, with its three conversions: from and to the draft
kept while the annotator works (answers by the number shown on their cards), from a stored judgement (by
answer id), and into the arguments of a domain Judgement (by answer id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labeler.domain import LIKERT_RANGE, Flag
from labeler.ui.ranking_input import RankingInputError

_FLAG_VALUES = {flag.value for flag in Flag}


@dataclass
class JudgementDetails:
    flags: dict[int, frozenset[str]] = field(default_factory=dict)  # answer number (1-based) -> flag values
    likert: int | None = None
    comment: str = ""

    def set_flags(self, number: int, flags: set[str] | frozenset[str]) -> None:
        self.flags[number] = frozenset(flags) & _FLAG_VALUES

    def rate(self, value: int) -> None:
        if value not in LIKERT_RANGE:
            raise RankingInputError("the quality is 1 to 7")
        self.likert = value

    def flagged(self) -> list[int]:
        """The numbers of the answers with at least one flag."""
        return sorted(number for number, flags in self.flags.items() if flags)

    def judgement_arguments(self, order: Sequence[int]) -> dict[str, Any]:
        """flags (by answer id, as Flag), likert and comment for domain.Judgement; `order` maps number n to
        the answer id order[n - 1]."""
        flags = {order[n - 1]: frozenset(map(Flag, found)) for n, found in self.flags.items() if found}
        return {"flags": flags, "likert": self.likert, "comment": self.comment}

    def to_draft(self) -> dict[str, Any]:
        """As JSON for the draft: {"flags": {"2": ["harmful"]}, "likert": 5, "comment": "..."}."""
        flags = {str(number): sorted(found) for number, found in self.flags.items() if found}
        return {"flags": flags, "likert": self.likert, "comment": self.comment}

    @classmethod
    def from_draft(cls, saved: Mapping[str, Any], answer_count: int) -> JudgementDetails:
        """The details of a draft, keeping only what is still valid (a draft is the file's, not ours)."""
        details = cls()
        flags = saved.get("flags")
        for number, found in (flags if isinstance(flags, Mapping) else {}).items():
            if str(number).isdigit() and 1 <= int(number) <= answer_count and isinstance(found, list):
                details.set_flags(int(number), {flag for flag in found if isinstance(flag, str)})
        if saved.get("likert") in LIKERT_RANGE:
            details.likert = saved["likert"]
        if isinstance(saved.get("comment"), str):
            details.comment = saved["comment"]
        return details

    @classmethod
    def from_judgement(cls, row: Mapping[str, Any]) -> JudgementDetails:
        """The details of a stored judgement (Store.judgement_row), its answers numbered by its display order."""
        numbers = {answer_id: index + 1 for index, answer_id in enumerate(row["display_order"])}
        flags = {numbers[int(answer)]: frozenset(found) for answer, found in row["flags"].items()}
        return cls(flags, row["likert"], row["comment"] or "")
