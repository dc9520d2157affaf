"""Figures about the annotators and the models, computed from judgements already read from the store.

Pure: no database, no Qt, no torch; numpy does the arithmetic. Every result is a flat dataclass of
str/int/float/None (no numpy scalars, no NaN), so `dataclasses.asdict` or `.as_dict()` gives JSON.

Rules shared by the ranking figures (agreement, alpha, Bradley–Terry):
  - Only the latest judgement of a prompt by an annotator counts, "latest" being the last one in the
    order given (callers pass judgements in time order). An annotator should have one current
    judgement per prompt; if a merge left two, the newer one is the annotator's opinion.
  - A tier is a tie: tied answers imply no order, so they are not a comparison and not a battle.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from statistics import median  # the standard library's: imports are absolute

import numpy as np

from labeler.domain import Ranking, ranking_to_pairs

# Chatbot Arena's scale: a factor of 10 in the odds of winning is 400 rating points, and a model of
# average strength (log-strength 0, see bradley_terry_by_model) is rated 1000.
ELO_POINTS_PER_LOG_ODDS = 400 / math.log(10)
ELO_ANCHOR = 1000.0

# Bradley–Terry: a Gaussian prior N(0, 1/L2) on each log-strength. It keeps a model that won (or lost)
# every battle finite and fixes the free additive constant (the strengths come out with mean 0); with
# hundreds of battles per model it moves a log-strength by far less than its bootstrap interval.
DEFAULT_L2 = 1e-3


@dataclass(frozen=True)
class RankedJudgement:
    """One current judgement with the outcome 'ranked': answer ids in tiers, best first. A prompt's task in
    each round is its own unit: an annotator who ranked round 1 and round 2 gave two judgements."""

    annotator: str
    prompt_id: int
    tiers: tuple[tuple[int, ...], ...]
    seconds_spent: float | None
    round: int = 1


class _AsDict:
    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AnnotatorStats(_AsDict):
    annotator: str
    judgements: int  # current judgements of any outcome
    timed: int  # how many of them recorded the time spent: the median's basis
    median_seconds: float | None  # None when none was timed


@dataclass(frozen=True)
class Agreement(_AsDict):
    share: float  # agreeing / comparisons
    agreeing: int  # comparisons that both annotators ordered the same way
    comparisons: int  # (annotator pair, answer pair) cases that both annotators ordered
    prompts: int  # prompts that gave at least one comparison


@dataclass(frozen=True)
class ModelStrength(_AsDict):
    model: str
    battles: int  # pairs won or lost against answers of other models
    wins: int
    strength: float  # Bradley–Terry log-strength; P(a beats b) = 1 / (1 + exp(strength_b - strength_a))
    strength_low: float | None  # 95% bootstrap interval; None when no bootstrap was asked for
    strength_high: float | None
    rating: float  # the same on the Elo scale: 1000 + 400 * log10(e) * strength
    rating_low: float | None
    rating_high: float | None


def per_annotator(judgements: Iterable[tuple[str, float | None]]) -> dict[str, AnnotatorStats]:
    """Count and median seconds per judgement for each annotator, from (annotator, seconds_spent)."""
    seconds: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for annotator, spent in judgements:
        counts[annotator] += 1
        if spent is not None:
            seconds[annotator].append(spent)
    return {
        annotator: AnnotatorStats(
            annotator=annotator,
            judgements=counts[annotator],
            timed=len(seconds[annotator]),
            # To the millisecond, as the time is kept: a mean of two middles is 7.8745, not 7.874499999999999.
            median_seconds=round(float(median(seconds[annotator])), 3) if seconds[annotator] else None,
        )
        for annotator in sorted(counts)
    }


def pairwise_agreement(judgements: Iterable[RankedJudgement]) -> Agreement | None:
    """How often two annotators who ranked the same prompt order two of its answers the same way.

    For each prompt, each two annotators who ranked it, and each two answers that both of them placed
    in different tiers: one comparison, agreeing if both put the same answer higher. A prompt ranked by
    n annotators gives n(n-1)/2 annotator pairs, so it weighs more. None when there is no comparison
    (no prompt was ranked by two annotators, or they tied everything).
    """
    agreeing = comparisons = prompts = 0
    for by_annotator in _latest_tier_indexes(judgements).values():
        before = comparisons
        for first, second in itertools.combinations(by_annotator.values(), 2):
            for a, b in itertools.combinations(sorted(first.keys() & second.keys()), 2):
                first_order = first[a] - first[b]
                second_order = second[a] - second[b]
                if first_order and second_order:
                    comparisons += 1
                    agreeing += (first_order > 0) == (second_order > 0)
        prompts += comparisons > before
    if not comparisons:
        return None
    return Agreement(share=agreeing / comparisons, agreeing=agreeing, comparisons=comparisons, prompts=prompts)


def krippendorff_alpha_ordinal(judgements: Iterable[RankedJudgement]) -> float | None:
    """Krippendorff's alpha (ordinal) of the rankings, or None when there is nothing to compare.

    Modelling: a unit is one answer of one prompt; its values are the tier indexes (0 = best) that the
    annotators gave it. Only answers placed by two or more annotators count (alpha ignores the rest),
    so prompts ranked by one annotator add nothing. Tied answers share a tier index.
    """
    units = [
        [tier_of[answer] for tier_of in by_annotator.values() if answer in tier_of]
        for by_annotator in _latest_tier_indexes(judgements).values()
        for answer in sorted({answer for tier_of in by_annotator.values() for answer in tier_of})
    ]
    return ordinal_alpha(units)


def ordinal_alpha(units: Iterable[Iterable[int]]) -> float | None:
    """Krippendorff's alpha with the ordinal metric; each unit lists the values its coders gave it.

    Missing values are simply left out of a unit. Computed through the coincidence matrix as in
    Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability". None when fewer than two values
    are pairable or all pairable values are equal (alpha is then undefined).
    """
    values = [unit for unit in map(list, units) if len(unit) >= 2]
    if not values:
        return None
    domain, codes = np.unique(np.concatenate(values), return_inverse=True)
    counts = np.zeros((len(values), len(domain)))  # (units, values): how many coders gave each value
    unit_of_value = np.repeat(np.arange(len(values)), [len(unit) for unit in values])
    np.add.at(counts, (unit_of_value, codes), 1)
    # o[c, k]: the coder pairs within a unit that gave c and k, each unit weighted 1 / (its coders - 1).
    weighted = counts / (counts.sum(axis=1, keepdims=True) - 1)
    coincidences = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    marginals = coincidences.sum(axis=1)  # n_c
    distance = _ordinal_squared_distances(marginals)
    expected = marginals @ distance @ marginals
    if expected == 0:
        return None
    observed = (coincidences * distance).sum()
    return float(1 - (marginals.sum() - 1) * observed / expected)


def _ordinal_squared_distances(marginals: np.ndarray) -> np.ndarray:
    """delta²(c, k) = (n_c + ... + n_k - (n_c + n_k) / 2)²: ranks apart, in numbers of pairable values."""
    cumulative = np.concatenate([[0.0], np.cumsum(marginals)])
    index = np.arange(len(marginals))
    low, high = np.minimum.outer(index, index), np.maximum.outer(index, index)
    between = cumulative[high + 1] - cumulative[low]
    return (between - (marginals[:, None] + marginals[None, :]) / 2) ** 2


def bradley_terry_by_model(
    judgements: Iterable[RankedJudgement],
    answer_models: Mapping[int, str],
    bootstrap: int = 1000,
    seed: int = 0,
    l2: float = DEFAULT_L2,
) -> dict[str, ModelStrength]:
    """Bradley–Terry strengths of the models behind the answers, as Chatbot Arena computes them.

    Every pair a ranking implies (answers in different tiers) between answers of two different models
    is a battle won by the higher one; answers without a model are left out. The log-strengths maximise
    the battles' likelihood under P(a beats b) = sigmoid(s_a - s_b) minus (l2 / 2) * sum(s²) (see
    DEFAULT_L2), which makes them average 0 within each group of models that met each other: models
    that never met, even through others, are not comparable. The 95% interval comes from refitting on
    `bootstrap` resamples of the judgements (those that gave a battle), drawn with replacement; a model
    missing from a resample gets 0 there. Returns models strongest first.
    """
    models, battle_judgement, battle_cell = _battles(judgements, answer_models)
    if not models:
        return {}
    size = len(models)
    wins = np.bincount(battle_cell, minlength=size * size).reshape(size, size).astype(float)
    strengths = _fit_bradley_terry(wins, l2)
    low = high = None
    if bootstrap > 0:
        samples = _bootstrap_strengths(battle_judgement, battle_cell, size, strengths, bootstrap, seed, l2)
        low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    results = [
        ModelStrength(
            model=model,
            battles=int(wins[i].sum() + wins[:, i].sum()),
            wins=int(wins[i].sum()),
            strength=float(strengths[i]),
            strength_low=None if low is None else float(low[i]),
            strength_high=None if high is None else float(high[i]),
            rating=_rating(strengths[i]),
            rating_low=None if low is None else _rating(low[i]),
            rating_high=None if high is None else _rating(high[i]),
        )
        for i, model in enumerate(models)
    ]
    return {result.model: result for result in sorted(results, key=lambda r: -r.strength)}


def _rating(strength: float) -> float:
    return float(ELO_ANCHOR + ELO_POINTS_PER_LOG_ODDS * strength)


def _latest_judgements(judgements: Iterable[RankedJudgement]) -> list[RankedJudgement]:
    """Each annotator's last judgement of each prompt's round, in the order the pairs first appeared."""
    latest: dict[tuple[str, int, int], RankedJudgement] = {}
    for judgement in judgements:
        latest[judgement.annotator, judgement.prompt_id, judgement.round] = judgement
    return list(latest.values())


def _latest_tier_indexes(judgements: Iterable[RankedJudgement]) -> dict[tuple[int, int], dict[str, dict[int, int]]]:
    """(prompt, round) -> annotator -> answer -> tier index (0 = best), from each annotator's latest judgement."""
    by_prompt: dict[tuple[int, int], dict[str, dict[int, int]]] = defaultdict(dict)
    for judgement in _latest_judgements(judgements):
        by_prompt[judgement.prompt_id, judgement.round][judgement.annotator] = {
            answer: index for index, tier in enumerate(judgement.tiers) for answer in tier
        }
    return by_prompt


def _battles(
    judgements: Iterable[RankedJudgement], answer_models: Mapping[int, str]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The models that fought, and for each battle its judgement's number and its cell winner * size + loser.

    Judgements are numbered among those that gave at least one battle: the bootstrap resamples those.
    """
    found: list[tuple[int, str, str]] = []
    number = 0
    for judgement in _latest_judgements(judgements):
        # Only answers of two different models can fight: skip the judgement before building its pairs.
        if len({answer_models.get(a) for tier in judgement.tiers for a in tier} - {None}) < 2:
            continue
        before = len(found)
        for pair in ranking_to_pairs(Ranking.of(judgement.tiers)):
            winner, loser = answer_models.get(pair.chosen), answer_models.get(pair.rejected)
            if winner is not None and loser is not None and winner != loser:
                found.append((number, winner, loser))
        number += len(found) > before
    models = sorted({model for _, winner, loser in found for model in (winner, loser)})
    index = {model: i for i, model in enumerate(models)}
    battle_judgement = np.array([judgement for judgement, _, _ in found], dtype=np.int64)
    battle_cell = np.array([index[winner] * len(models) + index[loser] for _, winner, loser in found], np.int64)
    return models, battle_judgement, battle_cell


def _bootstrap_strengths(
    battle_judgement: np.ndarray,
    battle_cell: np.ndarray,
    size: int,
    start: np.ndarray,
    samples: int,
    seed: int,
    l2: float,
) -> np.ndarray:
    """(samples, models) log-strengths refitted on resamples of the judgements.

    A resample is a count per judgement (how often it was drawn); its win matrix is every battle
    weighted by its judgement's count, so each refit costs one pass over the battles and a fit on a
    models × models matrix, whatever the number of judgements.
    """
    rng = np.random.default_rng(seed)
    judgements = int(battle_judgement.max()) + 1
    fitted = np.empty((samples, size))
    for sample in range(samples):
        drawn = np.bincount(rng.integers(0, judgements, judgements), minlength=judgements)
        wins = np.bincount(battle_cell, weights=drawn[battle_judgement], minlength=size * size)
        fitted[sample] = _fit_bradley_terry(wins.reshape(size, size), l2, start)
    return fitted


def _fit_bradley_terry(wins: np.ndarray, l2: float, start: np.ndarray | None = None) -> np.ndarray:
    """Log-strengths maximising the penalised Bradley–Terry log-likelihood; wins[i, j] = i beat j.

    Newton's method with step halving. The objective is strictly concave (the L2 term), so each step
    solves a positive definite system and the iteration converges; warm starts make refits cheap.
    """
    games = wins + wins.T
    won = wins.sum(axis=1)
    strengths = np.zeros(len(wins)) if start is None else start
    value = _penalised_log_likelihood(wins, strengths, l2)
    for _ in range(100):
        beats = _sigmoid(strengths[:, None] - strengths[None, :])  # beats[i, j] = P(i beats j)
        gradient = won - (games * beats).sum(axis=1) - l2 * strengths
        curvature = games * beats * (1 - beats)
        negative_hessian = np.diag(curvature.sum(axis=1) + l2) - curvature
        step = np.linalg.solve(negative_hessian, gradient)
        if np.abs(step).max() < 1e-10:
            break
        # A full Newton step can overshoot far from the optimum (e.g. a model that won every battle);
        # near it, rounding can make a true improvement look like a loss of a few ulps: allow those.
        for _halving in range(50):
            candidate = strengths + step
            candidate_value = _penalised_log_likelihood(wins, candidate, l2)
            if candidate_value >= value - 1e-12 * abs(value):
                break
            step = step / 2
        strengths, value = candidate, candidate_value
    return strengths


def _penalised_log_likelihood(wins: np.ndarray, strengths: np.ndarray, l2: float) -> float:
    # log sigmoid(x) = -log(1 + exp(-x)), written so that it cannot overflow.
    log_beats = -np.logaddexp(0.0, strengths[None, :] - strengths[:, None])
    return float((wins * log_beats).sum() - l2 / 2 * (strengths @ strengths))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # The tanh form cannot overflow, unlike 1 / (1 + exp(-x)) for large negative x.
    return 0.5 * (1 + np.tanh(x / 2))
