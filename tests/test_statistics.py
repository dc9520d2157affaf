"""Annotator and model statistics, each figure checked against an example worked out by hand."""

import json
import math
from dataclasses import asdict

import numpy as np
import pytest

from labeler.statistics import (
    DEFAULT_L2,
    Agreement,
    AnnotatorStats,
    RankedJudgement,
    _fit_bradley_terry,
    bradley_terry_by_model,
    krippendorff_alpha_ordinal,
    ordinal_alpha,
    pairwise_agreement,
    per_annotator,
)


def ranked(annotator: str, prompt: int, *tiers) -> RankedJudgement:
    """`ranked("ann", 1, 10, [11, 12])`: answer 10 best, then 11 and 12 tied."""
    return RankedJudgement(annotator, prompt, tuple((t,) if isinstance(t, int) else tuple(t) for t in tiers), None)


# --- per annotator ---------------------------------------------------------------------------


def test_per_annotator_counts_every_judgement_and_takes_the_median_of_the_timed_ones():
    stats = per_annotator([("bo", 30.0), ("al", 10.0), ("bo", None), ("al", 40.0), ("al", 20.0), ("bo", 50.0)])
    assert list(stats) == ["al", "bo"]
    assert stats["al"] == AnnotatorStats("al", judgements=3, timed=3, median_seconds=20.0)
    # bo: 3 judgements, 2 timed (30, 50): the median of an even count is the mean of the middle two.
    assert stats["bo"] == AnnotatorStats("bo", judgements=3, timed=2, median_seconds=40.0)


def test_a_median_between_two_timings_is_kept_to_the_millisecond():
    # (7.874 + 7.875) / 2 is 7.874499999999999 in floating point; the figure is 7.8745 s, to the ms 7.874 or 7.875.
    assert per_annotator([("al", 7.874), ("al", 7.875)])["al"].median_seconds in (7.874, 7.875)
    assert json.dumps(per_annotator([("al", 1.1), ("al", 2.2)])["al"].median_seconds) == "1.65"


def test_per_annotator_without_timings_has_no_median():
    assert per_annotator([("al", None), ("al", None)])["al"].median_seconds is None
    assert per_annotator([]) == {}


# --- pairwise agreement ----------------------------------------------------------------------


def test_pairwise_agreement_worked_example():
    # Prompt 1, answers 1 2 3.  al: 1 > 2 > 3    bo: 1 > 3 > 2
    #   (1,2): both 1 higher, agree; (1,3): agree; (2,3): al 2 higher, bo 3 higher, disagree.
    # Prompt 2, answers 4 5 6.  al: 4 > 5 = 6    bo: 5 > 4 > 6
    #   (4,5): al 4 higher, bo 5 higher, disagree; (4,6): agree; (5,6): tied by al, not counted.
    # Prompt 3 is ranked by cy alone: nothing to compare.
    # 5 comparisons over 2 prompts, 3 agreeing: 3/5 = 0.6.
    judgements = [
        ranked("al", 1, 1, 2, 3),
        ranked("bo", 1, 1, 3, 2),
        ranked("al", 2, 4, [5, 6]),
        ranked("bo", 2, 5, 4, 6),
        ranked("cy", 3, 7, 8),
    ]
    assert pairwise_agreement(judgements) == Agreement(share=0.6, agreeing=3, comparisons=5, prompts=2)


def test_every_two_annotators_of_a_prompt_are_compared():
    # al: 1 > 2, bo: 1 > 2, cy: 2 > 1. Annotator pairs al-bo agree, al-cy and bo-cy disagree: 1/3.
    judgements = [ranked("al", 1, 1, 2), ranked("bo", 1, 1, 2), ranked("cy", 1, 2, 1)]
    assert pairwise_agreement(judgements) == Agreement(share=1 / 3, agreeing=1, comparisons=3, prompts=1)


def test_only_answers_both_annotators_ranked_are_compared():
    # bo was not shown answer 3: the only common pair is (1,2), ordered alike.
    judgements = [ranked("al", 1, 3, 1, 2), ranked("bo", 1, 1, 2)]
    assert pairwise_agreement(judgements) == Agreement(share=1.0, agreeing=1, comparisons=1, prompts=1)


def test_an_annotators_latest_judgement_of_a_prompt_is_the_one_that_counts():
    # al first disagreed with bo, then changed to bo's order: only the later judgement counts.
    judgements = [ranked("al", 1, 2, 1, 3), ranked("bo", 1, 1, 2, 3), ranked("al", 1, 1, 2, 3)]
    assert pairwise_agreement(judgements) == Agreement(share=1.0, agreeing=3, comparisons=3, prompts=1)
    # The other way round, al's latest order is the one bo disagrees with on (1,2): 2 of 3 agree.
    judgements = [ranked("al", 1, 1, 2, 3), ranked("bo", 1, 1, 2, 3), ranked("al", 1, 2, 1, 3)]
    assert pairwise_agreement(judgements).agreeing == 2


def test_pairwise_agreement_needs_a_prompt_ranked_by_two_annotators_with_an_order():
    assert pairwise_agreement([ranked("al", 1, 1, 2), ranked("bo", 2, 3, 4)]) is None
    assert pairwise_agreement([ranked("al", 1, 1, 2), ranked("bo", 1, [1, 2])]) is None  # all tied
    assert pairwise_agreement([]) is None


# --- Krippendorff's alpha --------------------------------------------------------------------


def test_ordinal_alpha_on_krippendorffs_own_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
    # 12 units, values 1..5, some missing; the paper gives alpha_ordinal = 0.815. By hand:
    # pairable units (unit 12 has one value) and their coincidences o[c,k] (each unit's ordered
    # pairs of observers, divided by its observers - 1):
    #   u1 111 -> o11 += 6/2    u2 2232 -> o22 += 6/3, o23 = o32 += 3/3    u3, u4 3333 -> o33 += 4 each
    #   u5, u9 2222 -> o22 += 4 each    u6 1234 -> o12 o13 o14 o23 o24 o34 (and mirrors) += 1/3
    #   u7 4444 -> o44 += 4    u8 1121 -> o11 += 6/3, o12 = o21 += 3/3    u10 555 -> o55 += 3
    #   u11 11 -> o11 += 2
    # o11 = 7, o12 = 4/3, o13 = o14 = 1/3, o22 = 10, o23 = 4/3, o24 = 1/3, o33 = 8, o34 = 1/3,
    # o44 = 4, o55 = 3; marginals n1..n5 = 9, 13, 10, 5, 3; n = 40.
    # Ordinal delta²(c,k) = (n_c + ... + n_k - (n_c + n_k)/2)²:
    #   d12 = 11² = 121, d13 = 22.5² = 506.25, d14 = 30² = 900, d15 = 34² = 1156, d23 = 11.5² = 132.25,
    #   d24 = 19² = 361, d25 = 23² = 529, d34 = 7.5² = 56.25, d35 = 11.5² = 132.25, d45 = 4² = 16.
    # Observed: 2 * (4/3*121 + 1/3*506.25 + 1/3*900 + 4/3*132.25 + 1/3*361 + 1/3*56.25) = 1891.
    # Expected: 2 * sum over c<k of n_c n_k d_ck = 2 * 199740 = 399480.
    # alpha = 1 - (n - 1) * 1891 / 399480 = 1 - 73749/399480 = 108577/133160 = 0.81539...
    units = [
        [1, 1, 1],
        [2, 2, 3, 2],
        [3, 3, 3, 3],
        [3, 3, 3, 3],
        [2, 2, 2, 2],
        [1, 2, 3, 4],
        [4, 4, 4, 4],
        [1, 1, 2, 1],
        [2, 2, 2, 2],
        [5, 5, 5],
        [1, 1],
        [3],
    ]
    alpha = ordinal_alpha(units)
    assert alpha == pytest.approx(108577 / 133160, abs=1e-12)
    assert round(alpha, 3) == 0.815


def test_alpha_of_two_rankings_worked_example():
    # One prompt, al: 1 > 2 > 3, bo: 1 > 3 > 2. Units are the answers, values their tier indexes:
    #   answer 1: (0, 0), answer 2: (1, 2), answer 3: (2, 1).
    # Coincidences: o00 = 2, o12 = o21 = 2; marginals n0 = n1 = n2 = 2, n = 6.
    # delta²: d01 = (4 - 2)² = 4, d12 = 4, d02 = (6 - 2)² = 16.
    # Observed 2 * o12 * d12 = 16; expected 2 * (4*4 + 4*4 + 4*16) = 192.
    # alpha = 1 - 5 * 16 / 192 = 7/12.
    judgements = [ranked("al", 1, 1, 2, 3), ranked("bo", 1, 1, 3, 2)]
    assert krippendorff_alpha_ordinal(judgements) == pytest.approx(7 / 12, abs=1e-12)


def test_alpha_gives_tied_answers_one_tier_index():
    # al: 1 = 2 > 3 gives values 0 0 1; bo: 1 > 2 > 3 gives 0 1 2. Units (0,0), (0,1), (1,2).
    # o00 = 2, o01 = o10 = 1, o12 = o21 = 1; n0 = 3, n1 = 2, n2 = 1, n = 6.
    # d01 = (5 - 2.5)² = 6.25, d12 = (3 - 1.5)² = 2.25, d02 = (6 - 2)² = 16.
    # Observed 2 * (6.25 + 2.25) = 17; expected 2 * (6*6.25 + 2*2.25 + 3*16) = 180.
    # alpha = 1 - 5 * 17 / 180 = 19/36.
    judgements = [ranked("al", 1, [1, 2], 3), ranked("bo", 1, 1, 2, 3)]
    assert krippendorff_alpha_ordinal(judgements) == pytest.approx(19 / 36, abs=1e-12)


def test_perfect_agreement_gives_agreement_and_alpha_one():
    judgements = [
        ranked("al", 1, 1, 2, 3),
        ranked("bo", 1, 1, 2, 3),
        ranked("al", 2, [5, 4], 6),
        ranked("bo", 2, [4, 5], 6),
    ]
    assert pairwise_agreement(judgements).share == 1.0
    assert krippendorff_alpha_ordinal(judgements) == 1.0


def test_alpha_needs_two_annotators_on_a_prompt_and_some_variation():
    assert krippendorff_alpha_ordinal([ranked("al", 1, 1, 2), ranked("bo", 2, 3, 4)]) is None
    assert krippendorff_alpha_ordinal([ranked("al", 1, [1, 2]), ranked("bo", 1, [1, 2])]) is None
    assert krippendorff_alpha_ordinal([]) is None


def test_alpha_uses_each_annotators_latest_judgement():
    # With al's first judgement replaced by the later one, the two agree perfectly.
    judgements = [ranked("al", 1, 2, 1, 3), ranked("bo", 1, 1, 2, 3), ranked("al", 1, 1, 2, 3)]
    assert krippendorff_alpha_ordinal(judgements) == 1.0


# --- Bradley–Terry ---------------------------------------------------------------------------

MODELS = {1: "A", 2: "B"}


def a_beats_b_three_times_in_four() -> list[RankedJudgement]:
    return [ranked("al", p, 1, 2) for p in range(3)] + [ranked("al", 3, 2, 1)]


def test_bradley_terry_two_models_is_the_log_odds_of_the_win_rate():
    # Maximum likelihood: P(A beats B) = sigmoid(sA - sB) = 3/4, so sA - sB = ln 3; the (vanishing)
    # L2 term centres the strengths at ±ln(3)/2, ratings 1000 ± 200*log10(3).
    strengths = bradley_terry_by_model(a_beats_b_three_times_in_four(), MODELS, bootstrap=0, l2=1e-9)
    a, b = strengths["A"], strengths["B"]
    assert a.strength - b.strength == pytest.approx(math.log(3), abs=1e-6)
    assert a.strength + b.strength == pytest.approx(0, abs=1e-9)
    assert a.rating == pytest.approx(1000 + 200 * math.log10(3), abs=1e-4)
    assert (a.battles, a.wins, b.battles, b.wins) == (4, 3, 4, 1)
    assert a.strength_low is a.rating_high is None  # no bootstrap asked for


def test_the_default_l2_shrinks_the_two_model_log_odds_slightly():
    # With the penalty the optimum d = sA - sB = 2 sA solves 3 - 4 sigmoid(d) - DEFAULT_L2 * d / 2 = 0.
    # One Newton step from ln 3, where the slope of 4 sigmoid is 4 * 3/4 * 1/4 = 3/4, gives
    # d ≈ ln 3 - DEFAULT_L2 * ln(3) / 1.5 (about 0.0007 below ln 3 for DEFAULT_L2 = 1e-3).
    strengths = bradley_terry_by_model(a_beats_b_three_times_in_four(), MODELS, bootstrap=0)
    d = strengths["A"].strength - strengths["B"].strength
    assert 3 - 4 / (1 + math.exp(-d)) - DEFAULT_L2 * d / 2 == pytest.approx(0, abs=1e-9)
    assert math.log(3) - d == pytest.approx(DEFAULT_L2 * math.log(3) / 1.5, rel=1e-2)


def test_battles_are_pairs_in_different_tiers_between_answers_of_two_models():
    # Answers 1, 2 by A; 3 by B; 4 by C; 5 has no model.
    models = {1: "A", 2: "A", 3: "B", 4: "C"}
    # 1 > 3 = 4 > 2 > 5: pairs 1-3 (A beats B), 1-4 (A beats C), 1-2 (same model, skipped),
    # 3-2 (B beats A), 4-2 (C beats A); 3-4 is a tie; every pair with 5 has no model.
    judgement = ranked("al", 1, 1, [3, 4], 2, 5)
    strengths = bradley_terry_by_model([judgement], models, bootstrap=0)
    assert {m: (s.battles, s.wins) for m, s in strengths.items()} == {
        "A": (4, 2),
        "B": (2, 1),
        "C": (2, 1),
    }


def test_bradley_terry_uses_each_annotators_latest_judgement_of_a_prompt():
    # al ranked prompt 0 twice; only the later ranking (B above A) is a battle.
    judgements = [ranked("al", 0, 1, 2), ranked("al", 0, 2, 1)]
    strengths = bradley_terry_by_model(judgements, MODELS, bootstrap=0)
    assert {m: (s.battles, s.wins) for m, s in strengths.items()} == {"B": (1, 1), "A": (1, 0)}


def test_a_refit_started_far_from_its_optimum_still_converges():
    # The bootstrap starts each refit at the point estimate. From A = 8, B = -8 on one win each,
    # a full Newton step overshoots by thousands; halving the step keeps it on course to 0, 0.
    wins = np.array([[0.0, 1.0], [1.0, 0.0]])
    fitted = _fit_bradley_terry(wins, DEFAULT_L2, start=np.array([8.0, -8.0]))
    assert fitted == pytest.approx([0.0, 0.0], abs=1e-9)


def test_no_battles_means_no_models():
    assert bradley_terry_by_model([ranked("al", 1, 1, 2)], {1: "A", 2: "A"}) == {}
    assert bradley_terry_by_model([ranked("al", 1, [1, 2])], MODELS) == {}
    assert bradley_terry_by_model([], MODELS) == {}


def test_an_unbeaten_model_gets_a_finite_strength():
    strengths = bradley_terry_by_model([ranked("al", p, 1, 2) for p in range(5)], MODELS, bootstrap=0)
    assert math.isfinite(strengths["A"].strength)
    assert strengths["A"].strength > 3  # P(A beats B) above 99.7%


def simulated(strengths: dict[str, float], judgements: int, k: int, seed: int):
    """Rankings of k answers by distinct models drawn as Plackett–Luce with the given log-strengths.

    Ordering independent exponential times with rates exp(strength) draws a Plackett–Luce ranking,
    and in it P(a above b) = e^sa / (e^sa + e^sb): every implied pair is a Bradley–Terry battle.
    """
    rng = np.random.default_rng(seed)
    names = list(strengths)
    rates = np.exp([strengths[name] for name in names])
    answer_models, rankings = {}, []
    for prompt in range(judgements):
        shown = rng.choice(len(names), size=k, replace=False)
        order = shown[np.argsort(rng.exponential(1 / rates[shown]))]
        answer_ids = [prompt * k + i for i in range(k)]
        answer_models.update({answer: names[m] for answer, m in zip(answer_ids, order, strict=True)})
        rankings.append(ranked(f"annotator{prompt % 3}", prompt, *answer_ids))
    return rankings, answer_models


def test_bradley_terry_recovers_known_strengths():
    truth = {"weak": -1.0, "fair": -0.4, "mid": 0.0, "good": 0.5, "best": 0.9}  # mean 0, like the fit
    judgements, answer_models = simulated(truth, judgements=5000, k=4, seed=1)
    fitted = bradley_terry_by_model(judgements, answer_models, bootstrap=0)
    assert list(fitted) == ["best", "good", "mid", "fair", "weak"]
    for model, strength in truth.items():
        assert fitted[model].strength == pytest.approx(strength, abs=0.1)


def test_bootstrap_interval_contains_the_estimate_and_is_reproducible():
    truth = {"weak": -0.5, "mid": 0.0, "best": 0.5}
    judgements, answer_models = simulated(truth, judgements=300, k=3, seed=2)
    first = bradley_terry_by_model(judgements, answer_models, bootstrap=200, seed=7)
    for strength in first.values():
        assert strength.strength_low < strength.strength < strength.strength_high
        assert strength.rating_low < strength.rating < strength.rating_high
        # About 1800 battles: the interval is a few tenths wide, not zero and not huge.
        assert 0.1 < strength.strength_high - strength.strength_low < 0.6
    assert bradley_terry_by_model(judgements, answer_models, bootstrap=200, seed=7) == first
    other_seed = bradley_terry_by_model(judgements, answer_models, bootstrap=200, seed=8)
    assert other_seed["best"].strength_low != first["best"].strength_low
    assert other_seed["best"].strength == first["best"].strength


# --- JSON ------------------------------------------------------------------------------------


def test_results_turn_into_strict_json():
    judgements = [ranked("al", 1, 1, 2), ranked("bo", 1, 2, 1), ranked("al", 2, 2, 1)]
    results = [
        *per_annotator([("al", 12.5), ("bo", None)]).values(),
        pairwise_agreement(judgements),
        *bradley_terry_by_model(judgements, MODELS, bootstrap=20).values(),
    ]
    for result in results:
        assert result.as_dict() == asdict(result)
        assert json.loads(json.dumps(result.as_dict(), allow_nan=False)) == result.as_dict()
        assert all(type(value) in (str, int, float, type(None)) for value in result.as_dict().values())
