"""How often policy B beats policy A on the same prompts, as one judge scores them, with a 95% interval.

Pure arithmetic on two lists of scores (standard library only), tested against hand-computed values; used by
`labeler-train compare` and by PPO's `--judge`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

Z_95 = NormalDist().inv_cdf(0.975)  # 1.95996...: a two-sided 95% interval


@dataclass(frozen=True)
class WinRate:
    wins: int  # prompts where B's answer scored higher than A's
    ties: int  # equal scores (identical answers score identically): half a win each
    losses: int
    rate: float  # (wins + ties / 2) / prompts
    low: float  # the 95% Wilson score interval around `rate`
    high: float

    @property
    def prompts(self) -> int:
        return self.wins + self.ties + self.losses


def win_rate(scores_a: Sequence[float], scores_b: Sequence[float]) -> WinRate:
    """B's win rate against A, prompt by prompt (scores_a[i] and scores_b[i] are the two answers to prompt i)."""
    if len(scores_a) != len(scores_b):
        raise ValueError(f"{len(scores_a)} scores for A and {len(scores_b)} for B: one each per prompt")
    if not scores_a:
        raise ValueError("no scores: a win rate needs at least one prompt")
    wins = sum(b > a for a, b in zip(scores_a, scores_b, strict=True))
    ties = sum(b == a for a, b in zip(scores_a, scores_b, strict=True))
    losses = len(scores_a) - wins - ties
    low, high = wilson_interval(wins + ties / 2, len(scores_a))
    return WinRate(wins, ties, losses, (wins + ties / 2) / len(scores_a), low, high)


def wilson_interval(successes: float, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a proportion.

    Wilson rather than the normal ("Wald") interval p ± z·sqrt(p(1 − p)/n): with the few dozen prompts a judge
    reads, and win rates near 0 or 1 (exactly where over-optimisation shows), the normal interval has width
    zero at 0 or n wins and spills outside [0, 1], claiming a certainty it does not have; Wilson's stays inside
    [0, 1] and keeps close to its nominal coverage for small n. A tie counted as half a success makes
    `successes` fractional; the formula takes it as it is (ties lower the true variance, so the interval is a
    little wide, never too narrow).
    """
    p, n = successes / trials, trials
    spread = z * z / n
    centre = (p + spread / 2) / (1 + spread)
    half = z / (1 + spread) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)  # rounding kept inside [0, 1]
