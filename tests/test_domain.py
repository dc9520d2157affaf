"""The domain rules: tiers, strengths, the pairs they imply, validation."""

from collections.abc import Iterable
from itertools import combinations, pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labeler.domain import (
    Flag,
    Judgement,
    Outcome,
    Pair,
    PairSelection,
    Ranking,
    RankingError,
    ranking_to_pairs,
    recorded_stated_strengths,
    select_pairs,
    validate_ranking,
)


@st.composite
def rankings(draw, min_k: int = 2, max_k: int = 9) -> tuple[list[int], Ranking]:
    """Any valid ranking of K distinct answer ids, with random ties and strengths, each stated (0 to 3, as
    annotators and imported pairs state them) or not."""
    k = draw(st.integers(min_k, max_k))
    answers = draw(st.lists(st.integers(1, 10_000), min_size=k, max_size=k, unique=True))
    order = draw(st.permutations(answers))
    cuts = sorted(draw(st.sets(st.integers(1, k - 1))))
    bounds = [0, *cuts, k]
    tiers = [tuple(order[a:b]) for a, b in pairwise(bounds)]
    steps = len(tiers) - 1
    strengths = draw(st.lists(st.none() | st.integers(0, 3), min_size=steps, max_size=steps))
    return answers, Ranking(tuple(tiers), tuple(strengths))


def tier_of(ranking: Ranking) -> dict[int, int]:
    return {answer: index for index, tier in enumerate(ranking.tiers) for answer in tier}


def test_example_from_the_keyboard_scheme():
    # "3 = 1 4 2": 3 and 1 tied best, then 4, then 2, default strengths (better = 2).
    ranking = Ranking.of([[3, 1], 4, 2])
    pairs = set(ranking_to_pairs(ranking))
    assert pairs == {
        Pair(3, 4, 2),
        Pair(1, 4, 2),
        Pair(3, 2, 4),
        Pair(1, 2, 4),
        Pair(4, 2, 2),
    }


def test_margin_is_the_sum_of_strengths_between_tiers():
    ranking = Ranking.of([10, 20, 30, 40], strengths=[1, 3, 2])
    margins = {(p.chosen, p.rejected): p.margin for p in ranking_to_pairs(ranking)}
    assert margins == {
        (10, 20): 1,
        (10, 30): 4,
        (10, 40): 6,
        (20, 30): 3,
        (20, 40): 5,
        (30, 40): 2,
    }


def test_without_strengths_nothing_is_stated_and_the_default_fills_in():
    ranking = Ranking.of([[3, 1], 4, 2])
    assert (ranking.stated_strengths, ranking.strengths) == ((None, None), (2, 2))
    assert {p.stated_margin for p in ranking_to_pairs(ranking)} == {None}


def test_a_stated_margin_sums_only_the_stated_strengths_between_the_tiers():
    # 10 >>> 20 (3, stated) >> 30 (not stated: 2 by default) > 40 (1, stated)
    ranking = Ranking.of([10, 20, 30, 40], strengths=[3, None, 1])
    assert ranking.strengths == (3, 2, 1)
    assert ranking_to_pairs(ranking) == [
        Pair(10, 20, 3, 3),
        Pair(10, 30, 5, 3),  # 3 + 2; the step 20-30 adds nothing stated
        Pair(10, 40, 6, 4),  # 3 + 2 + 1; stated 3 + 1
        Pair(20, 30, 2, None),  # its one step was not stated
        Pair(20, 40, 3, 1),
        Pair(30, 40, 1, 1),
    ]


def test_a_stated_zero_is_kept_and_records_the_default_strength():
    # A TRL pair with "margin": 0 states no margin; the store's positive strength is the default.
    ranking = Ranking.of([7, 8], strengths=[0])
    assert (ranking.stated_strengths, ranking.strengths) == ((0,), (2,))
    assert ranking_to_pairs(ranking) == [Pair(7, 8, 2, 0)]
    assert Pair(7, 8, 2) == Pair(7, 8, 2, None)  # a pair built without one states no margin


def test_a_ranking_recorded_before_stated_strengths_were_kept_states_all_but_the_default():
    assert recorded_stated_strengths([3, 2, 1], None) == (3, None, 1)
    assert recorded_stated_strengths([2, 2], None) == (None, None)
    assert recorded_stated_strengths([5], None) == (5,)  # an imported pair's margin of 5
    # Recorded since: as recorded, a stated 2 and a stated 0 included.
    assert recorded_stated_strengths([2, 2, 3], [2, None, 3]) == (2, None, 3)
    assert recorded_stated_strengths([2], [0]) == (0,)


def test_all_tied_gives_no_pairs():
    assert ranking_to_pairs(Ranking.of([[1, 2, 3]])) == []


@pytest.mark.parametrize(
    ("tiers", "strengths", "message"),
    [
        ([[1, 2], [2, 3]], None, "more than once"),
        ([[1], []], None, "empty"),
        ([1, 2, 3], [2], "need 2 strengths"),
        ([1, 2], [-1], "strength must be a whole number of at least 0, or None where none was stated"),
        ([1, 2], [1.5], "strength must be a whole number of at least 0"),
        ([1, 2], [True], "strength must be a whole number of at least 0"),
        ([], None, "at least one tier"),
    ],
)
def test_malformed_rankings_are_refused(tiers, strengths, message):
    with pytest.raises(RankingError, match=message):
        Ranking.of(tiers, strengths)


def test_validation_requires_every_shown_answer_exactly_once():
    validate_ranking(Ranking.of([2, 1, 3]), [1, 2, 3])
    with pytest.raises(RankingError, match=r"not placed in the ranking: \[3\]"):
        validate_ranking(Ranking.of([2, 1]), [1, 2, 3])
    with pytest.raises(RankingError, match=r"not shown: \[4\]"):
        validate_ranking(Ranking.of([2, 1, 3, 4]), [1, 2, 3])
    with pytest.raises(RankingError, match="2 to 9 answers"):
        validate_ranking(Ranking.of([1]), [1])
    with pytest.raises(RankingError, match="2 to 9 answers"):
        validate_ranking(Ranking.of(list(range(10))), list(range(10)))


def test_judgement_kinds():
    assert Judgement.all_bad().pairs() == []
    assert Judgement.skipped("needs expertise I lack").pairs() == []
    assert Judgement.all_bad().outcome is Outcome.ALL_BAD
    with pytest.raises(RankingError, match="needs a reason"):
        Judgement.skipped("  ")
    with pytest.raises(RankingError, match="1 to 7"):
        Judgement.all_bad(likert=8)
    with pytest.raises(RankingError, match="unknown flag"):
        Judgement.all_bad(flags={1: frozenset({"rude"})})
    judgement = Judgement.ranked(Ranking.of([1, 2]), flags={3: frozenset({Flag.HARMFUL})})
    with pytest.raises(RankingError, match=r"flags on answers that were not shown: \[3\]"):
        judgement.validate([1, 2])


@given(rankings())
def test_pair_count_is_all_pairs_minus_tied_pairs(case):
    answers, ranking = case
    k = len(answers)
    tied = sum(len(tier) * (len(tier) - 1) // 2 for tier in ranking.tiers)
    pairs = ranking_to_pairs(ranking)
    assert len(pairs) == k * (k - 1) // 2 - tied
    assert len({(p.chosen, p.rejected) for p in pairs}) == len(pairs)


@given(rankings())
def test_pairs_never_contradict_and_follow_the_tiers(case):
    _, ranking = case
    tiers = tier_of(ranking)
    seen = {(p.chosen, p.rejected) for p in ranking_to_pairs(ranking)}
    for pair in ranking_to_pairs(ranking):
        assert (pair.rejected, pair.chosen) not in seen
        assert tiers[pair.chosen] < tiers[pair.rejected]
        assert pair.margin == sum(ranking.strengths[tiers[pair.chosen] : tiers[pair.rejected]])
        stated = [s for s in ranking.stated_strengths[tiers[pair.chosen] : tiers[pair.rejected]] if s is not None]
        assert pair.stated_margin == (sum(stated) if stated else None)
    # Every two answers in different tiers make a pair; tied answers make none.
    for a, b in combinations(ranking.answers, 2):
        in_pairs = (a, b) in seen or (b, a) in seen
        assert in_pairs == (tiers[a] != tiers[b])


def tiers_from_pairs(answer_ids: Iterable[int], pairs: Iterable[Pair]) -> Ranking:
    """Rebuild the ranking that a complete set of pairs came from (the inverse of ranking_to_pairs): the
    test that ranking_to_pairs loses nothing.

    Tier 0 is every answer that loses no pair; remove it and repeat. The stated strengths are the
    stated margins between adjacent tiers. Raises RankingError if the pairs contradict each other
    (a cycle).
    """
    remaining = set(answer_ids)
    pairs = list(pairs)
    beaten_by: dict[int, set[int]] = {answer: set() for answer in remaining}
    stated_margins: dict[tuple[int, int], int | None] = {}
    for pair in pairs:
        if pair.chosen not in beaten_by or pair.rejected not in beaten_by:
            raise RankingError(f"pair {pair} names an answer outside {sorted(beaten_by)}")
        beaten_by[pair.rejected].add(pair.chosen)
        stated_margins[(pair.chosen, pair.rejected)] = pair.stated_margin
    tiers: list[tuple[int, ...]] = []
    while remaining:
        top = tuple(sorted(a for a in remaining if not beaten_by[a] & remaining))
        if not top:
            raise RankingError("the pairs contradict each other (they form a cycle)")
        tiers.append(top)
        remaining -= set(top)
    stated = [stated_margins.get((upper[0], lower[0])) for upper, lower in pairwise(tiers)]
    return Ranking(tuple(tiers), tuple(stated))


@given(rankings())
def test_tiers_and_strengths_are_recoverable_from_the_pairs(case):
    answers, ranking = case
    rebuilt = tiers_from_pairs(answers, ranking_to_pairs(ranking))
    assert [sorted(t) for t in rebuilt.tiers] == [sorted(t) for t in ranking.tiers]
    assert rebuilt.stated_strengths == ranking.stated_strengths


@given(rankings())
def test_a_valid_ranking_validates_against_its_answers(case):
    answers, ranking = case
    Judgement.ranked(ranking).validate(answers)


def test_contradicting_pairs_are_detected():
    with pytest.raises(RankingError, match="cycle"):
        tiers_from_pairs([1, 2, 3], [Pair(1, 2, 2), Pair(2, 3, 2), Pair(3, 1, 2)])


def test_pair_selections():
    ranking = Ranking.of([[1, 2], 3, 4], strengths=[1, 3])
    assert set(select_pairs(ranking, PairSelection.ALL)) == set(ranking_to_pairs(ranking))
    assert set(select_pairs(ranking, PairSelection.ADJACENT)) == {
        Pair(1, 3, 1, 1),
        Pair(2, 3, 1, 1),
        Pair(3, 4, 3, 3),
    }
    assert set(select_pairs(ranking, PairSelection.BEST_VS_REST)) == {
        Pair(1, 3, 1, 1),
        Pair(2, 3, 1, 1),
        Pair(1, 4, 4, 4),
        Pair(2, 4, 4, 4),
    }
    unstated_below = Ranking.of([[1, 2], 3, 4], strengths=[1, None])
    assert set(select_pairs(unstated_below, PairSelection.BEST_VS_REST)) == {
        Pair(1, 3, 1, 1),
        Pair(2, 3, 1, 1),
        Pair(1, 4, 3, 1),
        Pair(2, 4, 3, 1),
    }


@given(rankings())
def test_selections_are_subsets_with_the_expected_counts(case):
    _, ranking = case
    every = set(ranking_to_pairs(ranking))
    adjacent = select_pairs(ranking, PairSelection.ADJACENT)
    best = select_pairs(ranking, PairSelection.BEST_VS_REST)
    assert set(adjacent) <= every
    assert set(best) <= every
    sizes = [len(t) for t in ranking.tiers]
    assert len(adjacent) == sum(a * b for a, b in pairwise(sizes))
    assert len(best) == sizes[0] * (sum(sizes) - sizes[0])
