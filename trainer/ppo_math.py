"""The arithmetic of PPO for language models, as small pure torch functions the loop in ppo.py reads like prose.

Shapes: B responses in a batch, T response tokens (right-padded), V the vocabulary. `mask` (B, T) is 1 on
the response's real tokens (up to and including its end-of-sequence token) and 0 on the padding after it;
it may be bool or 0/1 numbers. Each token is one action of an episode that ends with the response.

Every function that takes a mask reads only the positions where mask == 1: a value at a masked position
(padding, or a log-probability of a pad token) may be anything, even inf or nan, and changes no result,
nor, in the two losses, any gradient. That is done with torch.where rather than a multiplication by the
mask, because inf × 0 = nan.

Sources: Schulman et al. 2017 (PPO); Ziegler et al. 2019, "Fine-Tuning Language Models from Human
Preferences" (the per-token KL penalty and the adaptive controller); Schulman's note "Approximating KL
divergence" (the k1, k2, k3 estimators); Huang et al. 2024, "The N implementation details of RLHF with
PPO", as implemented in TRL's last PPO trainer (trl.experimental.ppo, trl 1.10-1.12).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import Tensor

KLEstimator = Literal["k1", "k2", "k3"]


# --- Masked statistics -------------------------------------------------------------------------------------------


def masked_mean(values: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Σ values·mask / Σ mask over the positions where mask == 1; over all of them, or along `dim`.

    values, mask (B, T) -> () with dim=None, or (B,) with dim=1 (one mean per response).
    A mean over no position is 0, not nan: an empty response then adds nothing to a loss or a log.
    """
    mask = mask.bool()
    kept = torch.where(mask, values, 0.0)  # (B, T)  garbage at padding never enters the sum
    total = kept.sum() if dim is None else kept.sum(dim)  # () or (B,)
    count = mask.sum() if dim is None else mask.sum(dim)  # () or (B,)
    return total / count.clamp(min=1)  # count 0 -> total is 0 too, so 0 / 1 = 0


def masked_var(values: Tensor, mask: Tensor, unbiased: bool = True) -> Tensor:
    """Variance of values over the positions where mask == 1: Σ (x − mean)² / (n − 1), or / n if not unbiased.

    values, mask (B, T) -> (). Raises ValueError when the unbiased variance is undefined (fewer than two
    positions), rather than returning inf or nan that would whiten a whole batch into nan.
    """
    mask = mask.bool()
    count = int(mask.sum())
    if unbiased and count < 2:
        raise ValueError(f"the unbiased variance needs at least 2 unmasked positions, got {count}")
    centred = values - masked_mean(values, mask)  # (B, T)
    variance = masked_mean(centred**2, mask)  # ()  the biased variance, Σ (x − mean)² / n
    if unbiased:
        variance = variance * count / (count - 1)  # ()  Bessel's correction
    return variance


def masked_whiten(values: Tensor, mask: Tensor, shift_mean: bool = True) -> Tensor:
    """(x − mean) / sqrt(var + 1e-8) with the mean and unbiased variance over mask == 1; 0 where mask == 0.

    values, mask (B, T) -> (B, T). With shift_mean=False the mean is added back: the spread is
    normalised but the level kept, which is how rewards are whitened (their sign carries meaning);
    advantages are whitened with shift_mean=True. The 1e-8 keeps a constant batch finite (it whitens to 0).
    """
    mask = mask.bool()
    mean, var = masked_mean(values, mask), masked_var(values, mask)  # (), ()
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)  # (B, T)
    if not shift_mean:
        whitened = whitened + mean  # (B, T)
    # Zero at padding, so the result can be summed or fed to gae without another masking step.
    return torch.where(mask, whitened, 0.0)  # (B, T)


# --- Log-probabilities and entropy -------------------------------------------------------------------------------


def logprobs_from_logits(logits: Tensor, tokens: Tensor) -> Tensor:
    """log softmax(logits)[token] for each position: log p(token_t | context), the log-prob of the action taken.

    logits (B, T, V) float, tokens (B, T) integer -> (B, T), float32 or the logits' dtype if wider.
    The logits must be those that predicted each token (shifted by one against the input ids) and
    already divided by the sampling temperature, so that these are the log-probs of the distribution
    the tokens were drawn from.

    Computed as logit[token] − logsumexp(logits), which equals log_softmax followed by a gather but never
    builds the (B, T, V) log_softmax tensor: under autograd that tensor would be kept alive until the
    backward pass (16 × 64 × 49,152 floats for SmolLM2 is 200 MB), whereas logsumexp keeps only (B, T).
    Half-precision logits are upcast to float32 first: the PPO ratio exp(logp − logp_old) magnifies
    rounding, and bf16 log-probs are good to about two decimal places only.
    """
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # (B, T, V)
    taken = logits.gather(-1, tokens.long().unsqueeze(-1)).squeeze(-1)  # (B, T)
    return taken - torch.logsumexp(logits, dim=-1)  # (B, T)


def entropy_from_logits(logits: Tensor) -> Tensor:
    """H = −Σ_v p_v log p_v = logsumexp(z) − Σ_v p_v z_v of the distribution softmax(z) at each position.

    logits (B, T, V), finite -> (B, T). The second form needs no log of a probability that underflowed to 0.
    It builds a (B, T, V) softmax, so call it under torch.no_grad() when the entropy is only logged.
    """
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # (B, T, V)
    probs = torch.softmax(logits, dim=-1)  # (B, T, V)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(-1)  # (B, T)


# --- KL penalty and rewards --------------------------------------------------------------------------------------


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, estimator: KLEstimator = "k1") -> Tensor:
    """Per-token estimate of KL(π ‖ π_ref) from tokens sampled from the policy π.

    With log r = log π_ref(x) − log π(x) (Schulman, "Approximating KL divergence"):
      k1 = −log r                   unbiased, but negative on some tokens; high variance
      k2 = ½ (log r)²               always ≥ 0, low variance, biased (exact only to second order)
      k3 = (r − 1) − log r          unbiased and always ≥ 0 (log is concave: log r ≤ r − 1), low variance
    Summed over a response's tokens, each estimates the KL between the two distributions over responses.

    logprobs, ref_logprobs (B, T) -> (B, T).
    """
    log_r = ref_logprobs - logprobs  # (B, T)
    if estimator == "k1":
        return -log_r  # (B, T)
    if estimator == "k2":
        return 0.5 * log_r**2  # (B, T)
    if estimator == "k3":
        # expm1(x) = eˣ − 1 without the cancellation that loses every digit when r is close to 1.
        return torch.expm1(log_r) - log_r  # (B, T)
    raise ValueError(f"estimator is 'k1', 'k2' or 'k3', got {estimator!r}")


class RewardsWithKL(NamedTuple):
    rewards: Tensor  # (B, T) −kl_coef·KL_t on every real token, plus the score on the last one; 0 at padding
    kl: Tensor  # (B, T) the per-token KL estimate; 0 at padding. kl.sum(1).mean() is the KL to log


def rewards_with_kl(
    score: Tensor,
    logprobs: Tensor,
    ref_logprobs: Tensor,
    mask: Tensor,
    kl_coef: float,
    estimator: KLEstimator = "k1",
) -> RewardsWithKL:
    """r_t = −kl_coef · KL_t on each real token, and r_last += score on the last real token (Ziegler et al.).

    score (B,) the reward model's score of each whole response; logprobs, ref_logprobs, mask (B, T)
    -> (rewards, kl), each (B, T), 0 wherever mask == 0.

    The score rewards the response as a whole, so it is credited to the action that completed it, the
    last token with mask == 1 (the end-of-sequence token, or the last token of a truncated response);
    the KL term charges every token for its own drift from the reference. A response whose mask is all
    zero has no action to credit: its row is all zero and its score is dropped (the masked losses give
    it no weight either).
    """
    mask = mask.bool()
    kl = torch.where(mask, kl_penalty(logprobs, ref_logprobs, estimator), 0.0)  # (B, T)
    rewards = -kl_coef * kl  # (B, T)
    positions = torch.arange(mask.shape[1], device=mask.device)  # (T,)
    # The largest position with mask == 1; argmax of an all-zero row is 0, and its score is zeroed below.
    last = torch.where(mask, positions, -1).argmax(dim=1)  # (B,)
    credited = torch.where(mask.any(dim=1), score, 0.0).to(rewards.dtype)  # (B,)
    rewards = rewards.scatter_add(1, last.unsqueeze(1), credited.unsqueeze(1))  # (B, T)
    return RewardsWithKL(rewards, kl)


# --- Advantages ---------------------------------------------------------------------------------------------------


def gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float = 1.0, lam: float = 0.95) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016): (advantages, returns), each (B, T).

      δ_t = r_t + γ V_{t+1} − V_t                  the one-step surprise of the value model
      A_t = δ_t + γλ A_{t+1}                       = Σ_k (γλ)^k δ_{t+k}, computed from the last token back
      R_t = A_t + V_t                              the target of the value loss

    rewards, values, mask (B, T); mask is 1 on a prefix of each row (right padding). The episode ends at
    the last real token, so V and A after it count as 0: the last real token's advantage is its reward
    minus its value. Advantages and returns are 0 where mask == 0. λ = 1 gives the Monte-Carlo return
    minus V (unbiased, high variance), λ = 0 the one-step δ (low variance, biased by V's errors).
    """
    mask = mask.bool()
    rewards = torch.where(mask, rewards, 0.0)  # (B, T)
    values = torch.where(mask, values, 0.0)  # (B, T)  so V after the end reads as 0
    next_value = torch.zeros_like(values[:, 0])  # (B,)
    next_advantage = torch.zeros_like(values[:, 0])  # (B,)
    advantages_reversed = []
    for t in reversed(range(rewards.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]  # (B,)
        # At padding the advantage is 0, which also stops the recursion from leaking across the end.
        advantage = torch.where(mask[:, t], delta + gamma * lam * next_advantage, 0.0)  # (B,)
        advantages_reversed.append(advantage)
        next_value, next_advantage = values[:, t], advantage
    advantages = torch.stack(advantages_reversed[::-1], dim=1)  # (B, T)
    returns = torch.where(mask, advantages + values, 0.0)  # (B, T)
    return advantages, returns


# --- Losses -------------------------------------------------------------------------------------------------------


class PolicyLoss(NamedTuple):
    loss: Tensor  # () to minimise
    clip_fraction: Tensor  # () share of real tokens whose clipped term was the one kept; detached
    approx_kl: Tensor  # () k3 estimate of KL(π_old ‖ π) over the real tokens; detached


def clipped_policy_loss(
    logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, mask: Tensor, clip_range: float
) -> PolicyLoss:
    """PPO's clipped surrogate: masked mean of max(−A·ρ, −A·clip(ρ, 1 − ε, 1 + ε)), with ρ = π(a)/π_old(a).

    logprobs (B, T) from the policy being trained (with gradient), old_logprobs (B, T) from the rollout,
    advantages (B, T), mask (B, T) -> PolicyLoss of scalars.

    The max (a min of the objectives) is pessimistic: once ρ has moved past 1 ± ε in the direction the
    advantage rewards, the clipped term is kept and it is constant in θ, so the gradient is 0 and a
    batch cannot push one token's probability arbitrarily far. Moves that make the objective worse are
    never clipped. clip_fraction counts tokens where the clipped term is strictly larger.

    approx_kl is k3 = (ρ − 1) − log ρ averaged over real tokens, as in cleanrl: unbiased for KL(π_old ‖ π)
    on tokens sampled from π_old, and never negative. (TRL's PPO trainer logged k2 = ½ (log ρ)², equal
    to second order.) It shows how far the epochs moved the policy from the one that sampled the batch.
    """
    mask = mask.bool()
    # log ρ is zeroed at padding before exp: a garbage log-prob there could make ρ inf, and the gradient
    # of exp would then be 0 · inf = nan even though the position is masked out of the mean.
    log_ratio = torch.where(mask, logprobs - old_logprobs, 0.0)  # (B, T)
    ratio = torch.exp(log_ratio)  # (B, T)
    advantages = torch.where(mask, advantages, 0.0)  # (B, T)
    unclipped = -advantages * ratio  # (B, T)
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)  # (B, T)
    loss = masked_mean(torch.max(unclipped, clipped), mask)  # ()
    with torch.no_grad():
        clip_fraction = masked_mean((clipped > unclipped).to(ratio.dtype), mask)  # ()
        approx_kl = masked_mean(torch.expm1(log_ratio) - log_ratio, mask)  # ()
    return PolicyLoss(loss, clip_fraction, approx_kl)


class ValueLoss(NamedTuple):
    loss: Tensor  # () to minimise
    clip_fraction: Tensor  # () share of real tokens whose clipped error was the one kept; detached


def clipped_value_loss(
    values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, clip_range_value: float
) -> ValueLoss:
    """½ · masked mean of max((V − R)², (V_clip − R)²), V_clip = V_old + clip(V − V_old, −ε_v, ε_v).

    values (B, T) from the value model being trained, old_values (B, T) from the rollout, returns (B, T)
    from gae, mask (B, T) -> ValueLoss of scalars.

    Same pessimism as the policy loss (as in OpenAI's lm-human-preferences and TRL's PPO trainer): a
    value that moved more than ε_v from the rollout's value, in the direction that lowers its error,
    gets no gradient pulling it further, so one batch cannot drag the value model far. clip_fraction
    counts tokens where the clipped error is larger.
    """
    mask = mask.bool()
    moved = torch.where(mask, values - old_values, 0.0)  # (B, T)
    clipped_values = old_values + torch.clamp(moved, -clip_range_value, clip_range_value)  # (B, T)
    # Errors zeroed at padding before squaring, for the same reason as log ρ in the policy loss.
    error = torch.where(mask, values - returns, 0.0)  # (B, T)
    clipped_error = torch.where(mask, clipped_values - returns, 0.0)  # (B, T)
    squared, clipped_squared = error**2, clipped_error**2  # (B, T), (B, T)
    loss = 0.5 * masked_mean(torch.max(squared, clipped_squared), mask)  # ()
    with torch.no_grad():
        clip_fraction = masked_mean((clipped_squared > squared).to(squared.dtype), mask)  # ()
    return ValueLoss(loss, clip_fraction)


# --- KL coefficient controllers ----------------------------------------------------------------------------------


class FixedKLController:
    """A KL coefficient that stays where it was set; the same interface as AdaptiveKLController."""

    def __init__(self, kl_coef: float) -> None:
        self.value = float(kl_coef)  # a plain attribute: save it in a checkpoint, set it back on resume

    def update(self, current_kl: float, n_steps: int) -> None:
        """Nothing to do: the coefficient is fixed."""


class AdaptiveKLController:
    """Ziegler et al. 2019 (§2.2): move the KL coefficient β so that the measured KL tracks a target.

    After a batch of n_steps episodes whose KL per response is current_kl:
      e = clip(current_kl / target − 1, −0.2, 0.2)      proportional error, at most ±20 %
      β ← β · (1 + e · n_steps / horizon)
    A KL above target raises β (a stronger pull back to the reference), below target lowers it. The clip
    keeps one odd batch from swinging β, and horizon (in episodes; the paper uses 10,000) sets how fast β
    follows: with n_steps = horizon one update moves β by at most ±20 %.
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: int) -> None:
        if target <= 0 or horizon <= 0:
            raise ValueError(f"target and horizon must be positive, got target={target}, horizon={horizon}")
        self.value = float(init_kl_coef)  # a plain attribute: save it in a checkpoint, set it back on resume
        self.target = float(target)
        self.horizon = horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        """Move self.value toward the coefficient that would give the target KL (see the class docstring)."""
        proportional_error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + proportional_error * n_steps / self.horizon
