"""PPO's helpers against values worked out by hand, and the properties the loop relies on."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.testing import assert_close

from trainer.ppo_math import (
    AdaptiveKLController,
    FixedKLController,
    clipped_policy_loss,
    clipped_value_loss,
    entropy_from_logits,
    gae,
    kl_penalty,
    logprobs_from_logits,
    masked_mean,
    masked_var,
    masked_whiten,
    rewards_with_kl,
)

torch.set_num_threads(1)

NAN, INF = float("nan"), float("inf")


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


# One batch for the masked statistics: the real values are 1, 2 (row 0) and 4 (row 1).
VALUES = t([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # (B, T)
MASK = torch.tensor([[1, 1, 0], [1, 0, 0]])  # (B, T)
# The same batch with garbage where the mask is 0.
GARBAGE = t([[1.0, 2.0, NAN], [4.0, INF, -INF]])  # (B, T)


# --- masked_mean, masked_var, masked_whiten ----------------------------------------------------------------------


def test_masked_mean_by_hand():
    # Over the batch: (1 + 2 + 4) / 3 = 7/3. Per row: (1 + 2) / 2 = 1.5 and 4 / 1 = 4.
    assert_close(masked_mean(VALUES, MASK), t(7 / 3))
    assert_close(masked_mean(VALUES, MASK, dim=1), t([1.5, 4.0]))


def test_masked_mean_accepts_a_bool_mask_and_ignores_garbage_at_masked_positions():
    assert_close(masked_mean(GARBAGE, MASK.bool()), t(7 / 3))
    assert_close(masked_mean(GARBAGE, MASK, dim=1), t([1.5, 4.0]))


def test_masked_mean_over_no_position_is_zero():
    assert_close(masked_mean(VALUES, torch.tensor([[1, 1, 0], [0, 0, 0]]), dim=1), t([1.5, 0.0]))
    assert_close(masked_mean(VALUES, torch.zeros(2, 3)), t(0.0))


def test_masked_var_by_hand():
    # Mean 7/3; deviations −4/3, −1/3, 5/3; squares 16/9 + 1/9 + 25/9 = 42/9 = 14/3.
    # Unbiased: (14/3) / (3 − 1) = 7/3. Biased: (14/3) / 3 = 14/9.
    assert_close(masked_var(VALUES, MASK), t(7 / 3))
    assert_close(masked_var(VALUES, MASK, unbiased=False), t(14 / 9))
    assert_close(masked_var(GARBAGE, MASK), t(7 / 3))


def test_masked_var_refuses_an_unbiased_variance_of_one_position():
    with pytest.raises(ValueError, match="at least 2 unmasked positions, got 1"):
        masked_var(VALUES, torch.tensor([[1, 0, 0], [0, 0, 0]]))
    # The biased variance of one value is 0.
    assert_close(masked_var(VALUES, torch.tensor([[1, 0, 0], [0, 0, 0]]), unbiased=False), t(0.0))


def test_masked_whiten_by_hand():
    # (x − 7/3) / sqrt(7/3): 1 -> (−4/3) / 1.5275 = −0.8729, 2 -> −0.2182, 4 -> 1.0911; 0 at padding.
    std = math.sqrt(7 / 3 + 1e-8)
    expected = t([[(1 - 7 / 3) / std, (2 - 7 / 3) / std, 0.0], [(4 - 7 / 3) / std, 0.0, 0.0]])
    assert_close(masked_whiten(VALUES, MASK), expected)
    assert expected[0, 0].item() == pytest.approx(-0.8729, abs=1e-4)
    assert_close(masked_whiten(GARBAGE, MASK), expected)
    # shift_mean=False adds the mean back: the spread is normalised, the level kept.
    assert_close(masked_whiten(VALUES, MASK, shift_mean=False), torch.where(MASK.bool(), expected + 7 / 3, 0.0))


def test_masked_whiten_gives_mean_0_and_variance_1_over_the_mask():
    generator = torch.Generator().manual_seed(0)
    values = 3.0 + 5.0 * torch.randn(4, 7, generator=generator, dtype=torch.float64)  # (B, T)
    mask = torch.arange(7) < torch.tensor([[7], [3], [1], [5]])  # (B, T) right-padded rows
    whitened = masked_whiten(values, mask)  # (B, T)
    assert_close(masked_mean(whitened, mask), t(0.0))
    assert_close(masked_var(whitened, mask), t(1.0))
    assert torch.all(whitened[~mask] == 0)


def test_masked_whiten_of_a_constant_is_zero_not_nan():
    assert_close(masked_whiten(torch.full((2, 3), 4.0), torch.ones(2, 3)), torch.zeros(2, 3))


# --- logprobs_from_logits, entropy_from_logits -------------------------------------------------------------------

# softmax(0, log 2, log 3) = (1, 2, 3) / 6.
LOGITS = t([[[0.0, math.log(2), math.log(3)], [0.0, 0.0, 0.0]]])  # (B=1, T=2, V=3)


def test_logprobs_by_hand():
    # Position 0 took token 2: log(3/6) = log 0.5. Position 1 (uniform) took token 0: log(1/3).
    tokens = torch.tensor([[2, 0]])  # (B, T)
    assert_close(logprobs_from_logits(LOGITS, tokens), t([[math.log(0.5), math.log(1 / 3)]]))


def test_logprobs_equal_log_softmax_then_gather_and_their_gradients_too():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 11, generator=generator, requires_grad=True)  # (B, T, V)
    tokens = torch.randint(0, 11, (3, 5), generator=generator)  # (B, T)
    ours = logprobs_from_logits(logits, tokens)  # (B, T)
    (ours_grad,) = torch.autograd.grad(ours.sum(), logits)
    reference = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (B, T)
    (reference_grad,) = torch.autograd.grad(reference.sum(), logits)
    assert_close(ours, reference)
    assert_close(ours_grad, reference_grad)


def test_logprobs_of_bf16_logits_are_float32():
    tokens = torch.tensor([[2, 0]])
    logprobs = logprobs_from_logits(LOGITS.to(torch.bfloat16), tokens)
    assert logprobs.dtype == torch.float32
    assert_close(logprobs, t([[math.log(0.5), math.log(1 / 3)]]).float(), atol=1e-2, rtol=0)


def test_entropy_by_hand():
    # p = (1/6, 1/3, 1/2): H = (1/6) log 6 + (1/3) log 3 + (1/2) log 2 = 0.2986 + 0.3662 + 0.3466 = 1.0114.
    # Uniform over 3 tokens: log 3 = 1.0986.
    expected = t([[math.log(6) / 6 + math.log(3) / 3 + math.log(2) / 2, math.log(3)]])
    assert_close(entropy_from_logits(LOGITS), expected)
    assert expected[0, 0].item() == pytest.approx(1.0114, abs=1e-4)
    # Adding a constant to the logits changes no probability.
    assert_close(entropy_from_logits(LOGITS + 100.0), expected)


# --- KL estimators -----------------------------------------------------------------------------------------------


def test_kl_estimators_by_hand():
    # Token 0: π = 0.5, π_ref = 0.25, so r = π_ref/π = 0.5 and log r = −0.6931.
    #   k1 = −log r = 0.6931; k2 = ½ (0.6931)² = 0.2402; k3 = (0.5 − 1) + 0.6931 = 0.1931
    # Token 1: π = 0.25, π_ref = 0.5, r = 2, log r = 0.6931.
    #   k1 = −0.6931 (k1 is negative on some tokens); k2 = 0.2402; k3 = (2 − 1) − 0.6931 = 0.3069
    # Token 2: π = π_ref, r = 1: every estimator is 0.
    logprobs = t([[math.log(0.5), math.log(0.25), math.log(0.3)]])  # (B, T)
    ref_logprobs = t([[math.log(0.25), math.log(0.5), math.log(0.3)]])  # (B, T)
    log2 = math.log(2)
    assert_close(kl_penalty(logprobs, ref_logprobs, "k1"), t([[log2, -log2, 0.0]]))
    assert_close(kl_penalty(logprobs, ref_logprobs, "k2"), t([[log2**2 / 2, log2**2 / 2, 0.0]]))
    assert_close(kl_penalty(logprobs, ref_logprobs, "k3"), t([[-0.5 + log2, 1.0 - log2, 0.0]]))
    assert_close(kl_penalty(logprobs, ref_logprobs), kl_penalty(logprobs, ref_logprobs, "k1"))


def test_kl_penalty_refuses_an_unknown_estimator():
    with pytest.raises(ValueError, match="estimator is 'k1', 'k2' or 'k3', got 'k4'"):
        kl_penalty(t([[0.0]]), t([[0.0]]), "k4")


@given(
    st.lists(st.floats(-40.0, 0.0), min_size=1, max_size=20),
    st.lists(st.floats(-40.0, 0.0), min_size=1, max_size=20),
)
def test_k3_and_k2_are_never_negative(logprobs, ref_logprobs):
    n = min(len(logprobs), len(ref_logprobs))
    for dtype in (torch.float64, torch.float32):
        policy = torch.tensor([logprobs[:n]], dtype=dtype)  # (1, T)
        ref = torch.tensor([ref_logprobs[:n]], dtype=dtype)  # (1, T)
        assert torch.all(kl_penalty(policy, ref, "k3") >= 0)
        assert torch.all(kl_penalty(policy, ref, "k2") >= 0)


def test_k1_and_k3_are_unbiased_for_tokens_sampled_from_the_policy():
    # π = (0.5, 0.3, 0.2), π_ref = (0.2, 0.3, 0.5):
    #   KL(π ‖ π_ref) = 0.5 log 2.5 + 0.3 log 1 + 0.2 log 0.4 = (0.5 − 0.2) log 2.5 = 0.3 × 0.9163 = 0.2749
    # k2 is biased: E[k2] = ½ (0.5 + 0.2) (log 2.5)² = 0.35 × 0.8396 = 0.2939.
    # 100,000 samples: the standard error of k1's mean is sqrt(0.512 / 1e5) = 0.0023; tolerance 0.01.
    policy, reference = t([0.5, 0.3, 0.2]), t([0.2, 0.3, 0.5])
    exact_kl = 0.3 * math.log(2.5)
    assert exact_kl == pytest.approx(0.2749, abs=1e-4)
    generator = torch.Generator().manual_seed(0)
    tokens = torch.multinomial(policy, 100_000, replacement=True, generator=generator)  # (N,)
    logprobs, ref_logprobs = policy.log()[tokens][None], reference.log()[tokens][None]  # (1, N) each
    assert kl_penalty(logprobs, ref_logprobs, "k1").mean().item() == pytest.approx(exact_kl, abs=0.01)
    assert kl_penalty(logprobs, ref_logprobs, "k3").mean().item() == pytest.approx(exact_kl, abs=0.01)
    k2 = kl_penalty(logprobs, ref_logprobs, "k2").mean().item()
    assert k2 == pytest.approx(0.35 * math.log(2.5) ** 2, abs=0.01)
    assert k2 - exact_kl > 0.01


# --- rewards_with_kl ---------------------------------------------------------------------------------------------


def test_rewards_with_kl_by_hand():
    # Row 0 has 2 real tokens, row 1 has 3. k1 = logp − ref:
    #   row 0: −1 − (−1.5) = 0.5, −2 − (−2) = 0, padding
    #   row 1: 0, −1 − (−0.5) = −0.5, −1 − (−2) = 1
    # −0.1 · k1: row 0 (−0.05, 0, 0), row 1 (0, 0.05, −0.1).
    # Scores 2 and −1 land on each row's last real token: row 0 position 1, row 1 position 2.
    score = t([2.0, -1.0])  # (B,)
    logprobs = t([[-1.0, -2.0, NAN], [-1.0, -1.0, -1.0]])  # (B, T)
    ref_logprobs = t([[-1.5, -2.0, INF], [-1.0, -0.5, -2.0]])  # (B, T)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])  # (B, T)
    rewards, kl = rewards_with_kl(score, logprobs, ref_logprobs, mask, kl_coef=0.1)
    assert_close(kl, t([[0.5, 0.0, 0.0], [0.0, -0.5, 1.0]]))
    assert_close(rewards, t([[-0.05, 0.0 + 2.0, 0.0], [0.0, 0.05, -0.1 - 1.0]]))


def test_rewards_with_kl_k3_by_hand():
    # log r = ref − logp = log 0.5 on the one real token: k3 = (0.5 − 1) + log 2 = 0.1931.
    # Reward: −0.2 × 0.1931 + 3 = 2.9614.
    logprobs, ref_logprobs = t([[math.log(0.5), 0.0]]), t([[math.log(0.25), 0.0]])  # (B, T)
    rewards, kl = rewards_with_kl(t([3.0]), logprobs, ref_logprobs, torch.tensor([[1, 0]]), 0.2, "k3")
    k3 = -0.5 + math.log(2)
    assert_close(kl, t([[k3, 0.0]]))
    assert_close(rewards, t([[-0.2 * k3 + 3.0, 0.0]]))


def test_a_response_with_no_real_token_gets_no_reward_and_drops_its_score():
    mask = torch.tensor([[0, 0, 0], [1, 0, 0]])  # (B, T)
    logprobs = t([[-1.0, -2.0, -3.0], [-1.0, -2.0, -3.0]])  # (B, T)
    rewards, kl = rewards_with_kl(t([5.0, 7.0]), logprobs, torch.zeros(2, 3, dtype=torch.float64), mask, 0.1)
    # Row 1: k1 = −1 − 0 = −1 on its one token; −0.1 × (−1) + 7 = 7.1.
    assert_close(rewards, t([[0.0, 0.0, 0.0], [7.1, 0.0, 0.0]]))
    assert_close(kl, t([[0.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]))


# --- gae -----------------------------------------------------------------------------------------------------------

# A 1 × 3 episode with the score on the last token.
REWARDS = t([[0.0, 0.0, 1.0]])  # (B, T)
STATE_VALUES = t([[0.5, 0.25, 0.5]])  # (B, T)


def test_gae_by_hand_with_gamma_1_and_lambda_one_half():
    # γ = 1, λ = 0.5, V after the last token = 0:
    #   t = 2: δ = 1 + 0 − 0.5 = 0.5;      A = 0.5
    #   t = 1: δ = 0 + 0.5 − 0.25 = 0.25;  A = 0.25 + 0.5 × 0.5 = 0.5
    #   t = 0: δ = 0 + 0.25 − 0.5 = −0.25; A = −0.25 + 0.5 × 0.5 = 0
    # Returns A + V: 0.5, 0.75, 1.0.
    advantages, returns = gae(REWARDS, STATE_VALUES, torch.ones(1, 3), gamma=1.0, lam=0.5)
    assert_close(advantages, t([[0.0, 0.5, 0.5]]))
    assert_close(returns, t([[0.5, 0.75, 1.0]]))


def test_gae_by_hand_with_discount():
    # γ = 0.5, λ = 1:
    #   t = 2: δ = 1 − 0.5 = 0.5;                  A = 0.5
    #   t = 1: δ = 0 + 0.5 × 0.5 − 0.25 = 0;       A = 0 + 0.5 × 0.5 = 0.25
    #   t = 0: δ = 0 + 0.5 × 0.25 − 0.5 = −0.375;  A = −0.375 + 0.5 × 0.25 = −0.25
    # With λ = 1, A_t is the discounted return minus V_t: 0.25 − 0.5, 0.5 − 0.25, 1 − 0.5.
    advantages, returns = gae(REWARDS, STATE_VALUES, torch.ones(1, 3), gamma=0.5, lam=1.0)
    assert_close(advantages, t([[-0.25, 0.25, 0.5]]))
    assert_close(returns, t([[0.25, 0.5, 1.0]]))


def test_gae_treats_the_end_of_each_response_as_the_end_of_the_episode():
    # Row 0 is the hand-worked episode padded with garbage; row 1 has one token: A = 2 − 0.5 = 1.5.
    rewards = t([[0.0, 0.0, 1.0, NAN], [2.0, 9.0, -9.0, INF]])  # (B, T)
    values = t([[0.5, 0.25, 0.5, 100.0], [0.5, NAN, 3.0, 4.0]])  # (B, T)
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])  # (B, T)
    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    assert_close(advantages, t([[0.0, 0.5, 0.5, 0.0], [1.5, 0.0, 0.0, 0.0]]))
    assert_close(returns, t([[0.5, 0.75, 1.0, 0.0], [2.0, 0.0, 0.0, 0.0]]))


def test_gae_with_lambda_1_is_the_return_minus_v_and_with_lambda_0_the_one_step_error():
    generator = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(2, 5, 6, generator=generator, dtype=torch.float64)  # (B, T) each
    mask = torch.ones(5, 6, dtype=torch.bool)  # (B, T)
    gamma = 0.9
    # Discounted return G_t = Σ_k γ^k r_{t+k}, summed backwards.
    discounted = torch.zeros_like(rewards)  # (B, T)
    running = torch.zeros(5, dtype=torch.float64)  # (B,)
    for step in reversed(range(6)):
        running = rewards[:, step] + gamma * running
        discounted[:, step] = running
    advantages, returns = gae(rewards, values, mask, gamma=gamma, lam=1.0)
    assert_close(advantages, discounted - values)
    assert_close(returns, discounted)
    next_values = torch.cat([values[:, 1:], torch.zeros(5, 1, dtype=torch.float64)], dim=1)  # (B, T)
    advantages, _ = gae(rewards, values, mask, gamma=gamma, lam=0.0)
    assert_close(advantages, rewards + gamma * next_values - values)


# --- clipped_policy_loss -----------------------------------------------------------------------------------------

# Ratios ρ = 1.5, 0.5, 1.1 and advantages 1, 1, −2, with ε = 0.2; a 4th, masked position holds garbage.
OLD_LOGPROBS = t([[math.log(0.4)] * 4])  # (B, T)
RATIOS = [1.5, 0.5, 1.1]
ADVANTAGES = t([[1.0, 1.0, -2.0, NAN]])  # (B, T)
POLICY_MASK = torch.tensor([[1, 1, 1, 0]])  # (B, T)


def new_logprobs(garbage: float = 0.0) -> torch.Tensor:
    logprobs = OLD_LOGPROBS + t([[math.log(r) for r in RATIOS] + [garbage]])  # (B, T)
    return logprobs.requires_grad_()


def test_policy_loss_by_hand():
    # ρ = 1.5, A = 1:  −1.5 vs clipped −1 × 1.2 = −1.2; the max keeps −1.2 (clipped)
    # ρ = 0.5, A = 1:  −0.5 vs clipped −1 × 0.8 = −0.8; the max keeps −0.5 (not clipped: it is worse)
    # ρ = 1.1, A = −2: 2.2 vs clipped 2.2 (inside 1 ± 0.2); 2.2
    # Loss (−1.2 − 0.5 + 2.2) / 3 = 1/6; clip fraction 1/3.
    # approx_kl = mean of (ρ − 1) − log ρ: (0.5 − 0.4055) + (−0.5 + 0.6931) + (0.1 − 0.0953) = 0.2924; / 3 = 0.0975
    result = clipped_policy_loss(new_logprobs(), OLD_LOGPROBS, ADVANTAGES, POLICY_MASK, clip_range=0.2)
    assert_close(result.loss, t(1 / 6))
    assert_close(result.clip_fraction, t(1 / 3))
    expected_kl = sum((r - 1) - math.log(r) for r in RATIOS) / 3
    assert_close(result.approx_kl, t(expected_kl))
    assert expected_kl == pytest.approx(0.0975, abs=1e-4)
    assert not result.clip_fraction.requires_grad
    assert not result.approx_kl.requires_grad


def test_policy_gradient_is_zero_where_the_clipped_term_is_kept():
    # d loss / d log π_t = −A_t ρ_t / 3 where the unclipped term is kept, 0 where the clipped one is:
    #   ρ = 1.5 above 1 + ε with A > 0: 0
    #   ρ = 0.5, A = 1: −0.5 / 3;   ρ = 1.1, A = −2: 2 × 1.1 / 3;   masked: 0
    logprobs = new_logprobs()
    clipped_policy_loss(logprobs, OLD_LOGPROBS, ADVANTAGES, POLICY_MASK, clip_range=0.2).loss.backward()
    assert_close(logprobs.grad, t([[0.0, -0.5 / 3, 2.2 / 3, 0.0]]))


def test_policy_gradient_is_zero_below_1_minus_epsilon_with_a_negative_advantage():
    # ρ = 0.5 < 0.8 and A = −1: 0.5 vs clipped 0.8; the clipped term is kept and its gradient is 0.
    logprobs = t([[math.log(0.4 * 0.5)]]).requires_grad_()
    result = clipped_policy_loss(logprobs, t([[math.log(0.4)]]), t([[-1.0]]), torch.ones(1, 1), clip_range=0.2)
    result.loss.backward()
    assert_close(result.loss, t(0.8))
    assert_close(logprobs.grad, t([[0.0]]))


def test_policy_loss_ignores_garbage_at_masked_positions_and_its_gradient_stays_finite():
    clean = clipped_policy_loss(new_logprobs(), OLD_LOGPROBS, ADVANTAGES, POLICY_MASK, clip_range=0.2)
    logprobs = new_logprobs(garbage=1000.0)  # ρ = e^1000 = inf if it were not masked
    old_logprobs = OLD_LOGPROBS.clone()
    old_logprobs[0, 3] = -INF
    dirty = clipped_policy_loss(logprobs, old_logprobs, ADVANTAGES, POLICY_MASK, clip_range=0.2)
    dirty.loss.backward()
    for name in ("loss", "clip_fraction", "approx_kl"):
        assert_close(getattr(dirty, name), getattr(clean, name))
    assert_close(logprobs.grad, t([[0.0, -0.5 / 3, 2.2 / 3, 0.0]]))


# --- clipped_value_loss ------------------------------------------------------------------------------------------


def test_value_loss_by_hand():
    # ε_v = 0.2, V_old = 0; V = 0.5, −0.1, 0.3; R = 1, 0, 0; V_clip = 0.2, −0.1, 0.2.
    #   (0.5 − 1)² = 0.25 vs (0.2 − 1)² = 0.64: keeps 0.64 (clipped)
    #   (−0.1)² = 0.01 vs (−0.1)² = 0.01: 0.01 (equal: not counted as clipped)
    #   0.3² = 0.09 vs 0.2² = 0.04: 0.09
    # Loss ½ (0.64 + 0.01 + 0.09) / 3 = 0.37 / 3 = 0.1233; clip fraction 1/3.
    values = t([[0.5, -0.1, 0.3, NAN]]).requires_grad_()  # (B, T) the 4th is masked
    old_values, returns = t([[0.0, 0.0, 0.0, INF]]), t([[1.0, 0.0, 0.0, -INF]])  # (B, T)
    mask = torch.tensor([[1, 1, 1, 0]])  # (B, T)
    result = clipped_value_loss(values, old_values, returns, mask, clip_range_value=0.2)
    assert_close(result.loss, t(0.37 / 3))
    assert_close(result.clip_fraction, t(1 / 3))
    # Gradient (V − R) / 3 where the unclipped error is kept, 0 where the clipped one is (V moved past ε_v).
    result.loss.backward()
    assert_close(values.grad, t([[0.0, -0.1 / 3, 0.3 / 3, 0.0]]))


# --- KL controllers ----------------------------------------------------------------------------------------------


def test_adaptive_controller_by_hand():
    # target 6, horizon 10,000, β = 0.2.
    # KL 7.2: e = 7.2 / 6 − 1 = 0.2; 512 episodes: β × (1 + 0.2 × 512 / 10,000) = 0.2 × 1.01024 = 0.202048
    # KL 4.8: e = −0.2: β × (1 − 0.2 × 512 / 10,000) = 0.202048 × 0.98976 = 0.19997903...
    controller = AdaptiveKLController(0.2, target=6.0, horizon=10_000)
    controller.update(7.2, n_steps=512)
    assert controller.value == pytest.approx(0.202048)
    controller.update(4.8, n_steps=512)
    assert controller.value == pytest.approx(0.202048 * 0.98976)


def test_adaptive_controller_moves_at_most_20_percent_per_horizon():
    # With n_steps = horizon the multiplier is 1 + e, and e is clipped to ±0.2.
    up = AdaptiveKLController(1.0, target=1.0, horizon=100)
    up.update(50.0, n_steps=100)  # e = 49, clipped to 0.2
    assert up.value == pytest.approx(1.2)
    down = AdaptiveKLController(1.0, target=1.0, horizon=100)
    down.update(0.0, n_steps=100)  # e = −1, clipped to −0.2
    assert down.value == pytest.approx(0.8)
    # Inside the clip the step is proportional: KL 1.1 -> e = 0.1.
    near = AdaptiveKLController(1.0, target=1.0, horizon=100)
    near.update(1.1, n_steps=100)
    assert near.value == pytest.approx(1.1)
    on_target = AdaptiveKLController(1.0, target=1.0, horizon=100)
    on_target.update(1.0, n_steps=100)
    assert on_target.value == 1.0


def test_adaptive_controller_refuses_a_target_or_horizon_that_is_not_positive():
    with pytest.raises(ValueError, match="target and horizon must be positive"):
        AdaptiveKLController(0.1, target=0.0, horizon=100)
    with pytest.raises(ValueError, match="target and horizon must be positive"):
        AdaptiveKLController(0.1, target=6.0, horizon=0)


def test_fixed_controller_has_the_same_interface_and_never_moves():
    controller = FixedKLController(0.05)
    controller.update(100.0, n_steps=512)
    controller.update(0.0, n_steps=512)
    assert controller.value == 0.05
