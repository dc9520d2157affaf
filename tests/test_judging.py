"""The win-rate arithmetic of `labeler-train compare` and PPO's --judge, against values computed by hand.

Wilson score interval, z = 1.959964, n prompts, p = (wins + ties / 2) / n:
    centre = (p + z²/2n) / (1 + z²/n),   half = z / (1 + z²/n) · sqrt(p(1 − p)/n + z²/4n²)
"""

import pytest

from trainer.judging import WinRate, wilson_interval, win_rate


def test_eight_wins_of_ten():
    # p = 0.8, z²/n = 0.384146: centre = 0.992073 / 1.384146 = 0.716740,
    # half = 1.959964 / 1.384146 · sqrt(0.016 + 0.0096037) = 1.416009 · 0.160012 = 0.226578
    result = win_rate([0.0] * 10, [1.0] * 8 + [-1.0] * 2)
    assert (result.wins, result.ties, result.losses, result.prompts) == (8, 0, 2, 10)
    assert result.rate == 0.8
    assert result.low == pytest.approx(0.490162, abs=1e-5)
    assert result.high == pytest.approx(0.943318, abs=1e-5)


def test_a_tie_counts_half():
    # 2 wins, 2 ties, 1 loss of 5: p = 3 / 5 = 0.6, z²/n = 0.768292: centre = 0.984146 / 1.768292 = 0.556552,
    # half = 1.959964 / 1.768292 · sqrt(0.048 + 0.038415) = 1.108394 · 0.293964 = 0.325828
    result = win_rate([1, 1, 1, 1, 1], [2, 3, 1, 1, 0])
    assert (result.wins, result.ties, result.losses) == (2, 2, 1)
    assert result.rate == 0.6
    assert result.low == pytest.approx(0.230724, abs=1e-5)
    assert result.high == pytest.approx(0.882380, abs=1e-5)


def test_identical_scores_are_all_ties_and_an_even_rate():
    # p = 0.5 of 10: centre 0.5, half = 1.416009 · sqrt(0.025 + 0.0096037) = 1.416009 · 0.186021 = 0.263407
    result = win_rate([0.3] * 10, [0.3] * 10)
    assert result == WinRate(0, 10, 0, 0.5, pytest.approx(0.236593, abs=1e-5), pytest.approx(0.763407, abs=1e-5))


def test_all_wins_and_all_losses_keep_an_interval_of_real_width():
    # 10 of 10: p = 1, half = 1.416009 · sqrt(0 + 0.0096037) = 0.138767, centre = 1.192073 / 1.384146 = 0.861233:
    # (0.722467, 1). The normal interval would be (1, 1).
    wins = win_rate([0.0] * 10, [1.0] * 10)
    assert (wins.wins, wins.rate) == (10, 1.0)
    assert wins.high == pytest.approx(1.0, abs=1e-12)
    assert wins.low == pytest.approx(0.722467, abs=1e-5)
    losses = win_rate([1.0] * 10, [0.0] * 10)
    assert (losses.losses, losses.rate) == (10, 0.0)
    assert losses.low == pytest.approx(0.0, abs=1e-12)
    assert losses.high == pytest.approx(1 - 0.722467, abs=1e-5)


def test_the_interval_narrows_with_more_prompts():
    low_10, high_10 = wilson_interval(8, 10)
    low_100, high_100 = wilson_interval(80, 100)
    assert low_10 < low_100 < 0.8 < high_100 < high_10


def test_scores_must_pair_up_and_exist():
    with pytest.raises(ValueError, match="one each per prompt"):
        win_rate([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="at least one prompt"):
        win_rate([], [])
