"""A ranking row's own fields: the ranking (tiers of answer indices), the strengths stated between its
tiers, and the annotator's Likert score and comment. The rules of rankings are labeler.domain's.
"""

from __future__ import annotations

from typing import Any

from labeler.domain import LIKERT_RANGE, Ranking, RankingError, Strength, validate_ranking
from labeler.formats.row_fields import is_whole, whole_float_as_int
from labeler.formats.row_items import RowError
from labeler.formats.strict_json import describe_json_type


def parse_ranking(ranking: Any, count: int) -> Ranking:
    """The row's tiers over answers 0 to count - 1, no strength stated yet."""
    if not isinstance(ranking, list) or not ranking:
        raise RowError("ranking must be a list of answer indices, best first (a nested list is a tie)")
    tiers = []
    for item in ranking:
        tier = item if isinstance(item, list) else [item]
        for index in tier:
            if not is_whole(index):
                raise RowError(f"ranking must hold 0-based answer indices, got {index!r}")
            if not 0 <= index < count:
                raise RowError(f"ranking names answer index {index}, but the {count} answers are 0 to {count - 1}")
        tiers.append(tier)
    try:
        checked = Ranking.of(tiers)
        validate_ranking(checked, range(count))
    except RankingError as err:
        raise RowError(f"bad ranking of answers 0 to {count - 1}: {err}") from None
    return checked


def stated_strengths(ranking: Ranking, strengths: Any, stated: Any) -> tuple[int | None, ...]:
    """The strengths the row states between the ranking's tiers (None where it states none).

    A ranking is an annotator's judgement, made with the three strengths an annotator can choose (the
    domain also allows larger steps, for imported pairs' margins). "stated_strengths", which the rankings
    export writes so that it imports back as it was, may also hold null (not stated) and 0 (a pair's
    "no margin"). Given with it, "strengths" must be what labeler records for those (the default 2 in
    place of null and 0): an edit of one but not the other is refused, not silently dropped.
    """
    if stated is None:
        given = _strength_list(strengths, "strengths", ranking, allowed=tuple(Strength), null=False)
        return Ranking.of(ranking.tiers).stated_strengths if given is None else given
    stated = _strength_list(stated, "stated_strengths", ranking, allowed=(0, *Strength), null=True)
    recorded = Ranking(ranking.tiers, stated).strengths
    if strengths is not None and _strength_list(strengths, "strengths", ranking, tuple(Strength), False) != recorded:
        raise RowError(
            f"strengths {strengths} do not go with stated_strengths {list(stated)}: "
            f"those record strengths {list(recorded)} (2 where none was stated, or 0)"
        )
    return stated


def _strength_list(
    value: Any, name: str, ranking: Ranking, allowed: tuple[int, ...], null: bool
) -> tuple[int | None, ...] | None:
    """A row's list of strengths between tiers, each one of `allowed` (or null, if `null`); None if absent."""
    if value is None:
        return None
    choices = ", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}" + (" (or null)" if null else "")
    if not isinstance(value, list) or not all(is_whole(item) or (null and item is None) for item in value):
        raise RowError(f"{name} must be a list of {choices}, one between each two tiers")
    for item in value:
        if item is not None and item not in allowed:
            raise RowError(f"{name} must be {choices}, got {item}")
    tiers = len(ranking.tiers)
    if len(value) != tiers - 1:
        raise RowError(
            f"bad ranking of answers 0 to {len(ranking.answers) - 1}: {tiers} tiers need {tiers - 1} {name}, "
            f"got {len(value)}"
        )
    return tuple(None if item is None else int(item) for item in value)


def parse_likert(value: Any) -> int | None:
    if value is None:
        return None
    whole = whole_float_as_int(value)
    if not is_whole(whole) or whole not in LIKERT_RANGE:
        raise RowError(f"likert must be a whole number from 1 to 7, got {value!r}")
    return whole


def parse_comment(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RowError(f"comment must be text, got {describe_json_type(value)}")
    return value
