"""The reward loss and accuracy against values worked out by hand, and the batch they are computed on."""

import itertools
import json
import math

import pytest
import torch
from helpers.projects import make_project
from torch.testing import assert_close

from labeler.domain import Ranking
from trainer.data import RankedPrompt
from trainer.reward_loss import LossMargins, batch_for_prompts, grouped_loss, pair_accuracy, pairwise_loss

torch.set_num_threads(1)


def nll(x: float) -> float:
    """-log σ(x), the loss of one pair whose r_c − r_r − m is x."""
    return math.log1p(math.exp(-x))


LOG2 = nll(0)

# Prompt A, K = 3: a0 > a2 (strength 1) > a1 (strength 2), both stated.
# Pairs (chosen, rejected, margin): (a0, a2, 1), (a0, a1, 1 + 2 = 3), (a2, a1, 2).
A = RankedPrompt(1, "prompt A", ["a0", "a1", "a2"], [[0], [2], [1]], [1, 2], "alice")
# Prompt B, K = 4 with a tie: b2 > {b1, b3} (1) > b0 (1); 6 pairs minus the tied b1-b3 = 5.
# Pairs: (b2, b1, 1), (b2, b3, 1), (b2, b0, 2), (b1, b0, 1), (b3, b0, 1).
B = RankedPrompt(2, "prompt B", ["b0", "b1", "b2", "b3"], [[2], [1, 3], [0]], [1, 1], "bob")

# B's answers follow A's: b_i sits at 3 + i.
PAIR_INDEX = [[0, 2], [0, 1], [2, 1], [5, 4], [5, 6], [5, 3], [4, 3], [6, 3]]
MARGINS = [1.0, 3.0, 2.0, 1.0, 1.0, 2.0, 1.0, 1.0]
GROUP_OF_PAIR = [0, 0, 0, 1, 1, 1, 1, 1]

# With the stated margins as they are (LossMargins("scaled", 1.0)):
# rewards a0..a2 = 2, 0, 1 and b0..b3 = 0, 1, 2, 0; x = r_c − r_r − m for each pair:
#   A: (a0, a2) 2 − 1 − 1 = 0; (a0, a1) 2 − 0 − 3 = −1; (a2, a1) 1 − 0 − 2 = −1
#   B: (b2, b1) 2 − 1 − 1 = 0; (b2, b3) 2 − 0 − 1 = 1; (b2, b0) 2 − 0 − 2 = 0; (b1, b0) 1 − 0 − 1 = 0;
#      (b3, b0) 0 − 0 − 1 = −1
REWARDS = [2.0, 0.0, 1.0, 0.0, 1.0, 2.0, 0.0]
SUM_A = LOG2 + nll(-1) + nll(-1)  # log 2 + 2 log(1 + e)
SUM_B = 3 * LOG2 + nll(1) + nll(-1)  # 3 log 2 + log(1 + 1/e) + log(1 + e)


STATED_AS_THEY_ARE = LossMargins("scaled", 1.0)


def batch():
    _, _, pair_index, margins, group_of_pair = batch_for_prompts([A, B], STATED_AS_THEY_ARE)
    rewards = torch.tensor(REWARDS, dtype=torch.float64)  # (N,)
    return rewards, pair_index, margins, group_of_pair


def test_batch_for_prompts_flattens_each_ranking_into_one_slice():
    answer_texts, prompts, pair_index, margins, group_of_pair = batch_for_prompts([A, B], STATED_AS_THEY_ARE)
    assert answer_texts == ["a0", "a1", "a2", "b0", "b1", "b2", "b3"]
    assert prompts == ["prompt A"] * 3 + ["prompt B"] * 4
    assert pair_index.tolist() == PAIR_INDEX
    assert margins.tolist() == MARGINS
    assert group_of_pair.tolist() == GROUP_OF_PAIR
    assert (pair_index.dtype, margins.dtype, group_of_pair.dtype) == (torch.long, torch.float32, torch.long)


def test_unless_asked_the_loss_has_no_margins():
    assert batch_for_prompts([A, B])[3].tolist() == [0.0] * 8
    assert batch_for_prompts([A, B], LossMargins("none", 5.0))[3].tolist() == [0.0] * 8
    assert batch_for_prompts([A, B], LossMargins("scaled", 0.5))[3].tolist() == [m / 2 for m in MARGINS]


def test_a_scaled_margin_is_the_scale_times_the_stated_margin_and_0_where_none_was_stated():
    assert LossMargins("scaled", 0.5).of(3) == 1.5
    assert LossMargins("scaled", 0.5).of(0) == 0.0
    assert LossMargins("scaled", 0.5).of(None) == 0.0
    assert LossMargins("none").of(3) == 0.0
    with pytest.raises(ValueError, match="margin is 'none' or 'scaled', got 'all'"):
        LossMargins("all")
    for scale in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="the margin scale must be a positive number"):
            LossMargins("scaled", scale)


# Two rankings of two answers: x over y by a stated 3; v over u, strength not stated.
X_OVER_Y = RankedPrompt(1, "p", ["x", "y"], [[0], [1]], [3], "ann")
V_OVER_U = RankedPrompt(2, "q", ["u", "v"], [[1], [0]], [None], "bob")
# r_x = 1.5, r_y = 0.5, r_u = 0.25, r_v = 1.0: Δ = r_chosen − r_rejected = 1.0 and 0.75.
TWO_REWARDS = torch.tensor([1.5, 0.5, 0.25, 1.0], dtype=torch.float64)


@pytest.mark.parametrize(
    ("margins", "expected"),
    [
        # none: -log σ(1.0) and -log σ(0.75), averaged
        (LossMargins("none"), (math.log(1 + math.exp(-1.0)) + math.log(1 + math.exp(-0.75))) / 2),
        # scaled by 0.5: the stated 3 becomes 1.5, so -log σ(1.0 − 1.5); the unstated pair keeps 0
        (LossMargins("scaled", 0.5), (math.log(1 + math.exp(0.5)) + math.log(1 + math.exp(-0.75))) / 2),
    ],
)
def test_the_loss_of_two_pairs_by_hand(margins, expected):
    _, _, pair_index, pair_margins, group_of_pair = batch_for_prompts([X_OVER_Y, V_OVER_U], margins)
    assert pair_index.tolist() == [[0, 1], [3, 2]]
    for weighting in ("prompt", "pair"):  # one pair per prompt: both averages are the same
        loss = grouped_loss(TWO_REWARDS, pair_index, pair_margins.double(), group_of_pair, 2, weighting=weighting)
        assert loss.item() == pytest.approx(expected, abs=1e-12)


def test_batch_for_no_prompts_is_empty_with_the_right_shapes():
    answer_texts, prompts, pair_index, margins, group_of_pair = batch_for_prompts([])
    assert (answer_texts, prompts) == ([], [])
    assert (pair_index.shape, margins.shape, group_of_pair.shape) == ((0, 2), (0,), (0,))


def test_grouped_loss_averages_each_prompt_then_the_prompts():
    # Prompt A: (log 2 + 2 log(1 + e)) / 3 ≈ (0.6931 + 2 × 1.3133) / 3 ≈ 1.1066
    # Prompt B: (3 log 2 + log(1 + 1/e) + log(1 + e)) / 5 ≈ (2.0794 + 0.3133 + 1.3133) / 5 ≈ 0.7412
    # Loss: (1.1066 + 0.7412) / 2 ≈ 0.9239
    rewards, pair_index, margins, group_of_pair = batch()
    expected = (SUM_A / 3 + SUM_B / 5) / 2
    assert_close(grouped_loss(rewards, pair_index, margins, group_of_pair, groups=2), torch.tensor(expected).double())
    assert expected == pytest.approx(0.9239, abs=1e-4)


def test_grouped_loss_weighted_by_pair_averages_all_pairs():
    # (3.3198 + 3.7060) / 8 ≈ 0.8782: B's five pairs outweigh A's three, unlike per prompt (0.9239).
    rewards, pair_index, margins, group_of_pair = batch()
    loss = grouped_loss(rewards, pair_index, margins, group_of_pair, groups=2, weighting="pair")
    assert_close(loss, torch.tensor((SUM_A + SUM_B) / 8).double())


def test_grouped_loss_weighted_by_pair_is_exactly_pairwise_loss_on_the_same_pairs():
    torch.manual_seed(0)
    rewards = torch.randn(7)  # (N,)
    _, pair_index, margins, group_of_pair = batch()
    chosen, rejected = rewards[pair_index[:, 0]], rewards[pair_index[:, 1]]  # (P,) each
    grouped = grouped_loss(rewards, pair_index, margins, group_of_pair, groups=2, weighting="pair")
    assert_close(grouped, pairwise_loss(chosen, rejected, margins), rtol=0, atol=0)


def test_pairwise_loss_by_hand():
    chosen, rejected = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0])  # (P,) each
    assert_close(pairwise_loss(chosen, rejected, None), torch.tensor((nll(1) + LOG2) / 2))
    # A margin of 1 takes the first pair's x from 1 to 0.
    assert_close(pairwise_loss(chosen, rejected, torch.tensor([1.0, 0.0])), torch.tensor(LOG2))


def test_a_group_without_pairs_is_left_out_of_the_mean_over_prompts():
    rewards, pair_index, margins, group_of_pair = batch()
    two = grouped_loss(rewards, pair_index, margins, group_of_pair, groups=2)
    assert_close(grouped_loss(rewards, pair_index, margins, group_of_pair, groups=3), two)


def test_grouped_loss_refuses_an_unknown_weighting():
    rewards, pair_index, margins, group_of_pair = batch()
    with pytest.raises(ValueError, match="weighting is 'prompt' or 'pair', got 'answer'"):
        grouped_loss(rewards, pair_index, margins, group_of_pair, groups=2, weighting="answer")


def test_pair_accuracy_counts_every_pair_and_a_tie_as_wrong():
    rewards, pair_index, _, _ = batch()
    # Every chosen reward is above its rejected one except (b3, b0): 0 and 0, a tie.
    assert pair_accuracy(rewards, pair_index) == (7, 8)
    # 0 < 1 wrong, 1 == 1 a tie (wrong), 1 > 0 right.
    assert pair_accuracy(torch.tensor([0.0, 1.0, 1.0]), torch.tensor([[0, 1], [1, 2], [2, 0]])) == (1, 3)


def test_gradients_push_chosen_answers_up_and_rejected_ones_down():
    _, pair_index, margins, group_of_pair = batch()
    # Random rewards: with the hand-picked ones, b1's pull as chosen and as rejected cancel exactly.
    torch.manual_seed(0)
    rewards = torch.randn(7, requires_grad=True)  # (N,)
    grouped_loss(rewards, pair_index, margins, group_of_pair, groups=2).backward()
    # a0 and b2 are only ever chosen, a1 and b0 only ever rejected; every answer is in some pair.
    assert rewards.grad[[0, 5]].lt(0).all()
    assert rewards.grad[[1, 3]].gt(0).all()
    assert torch.all(rewards.grad != 0)


def test_loss_falls_as_rewards_move_the_way_the_rankings_say():
    _, pair_index, margins, group_of_pair = batch()
    rewards = torch.zeros(7, requires_grad=True)  # (N,)
    optimiser = torch.optim.SGD([rewards], lr=0.5)
    losses = []
    for _ in range(50):
        optimiser.zero_grad()
        loss = grouped_loss(rewards, pair_index, margins, group_of_pair, groups=2)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert all(later < earlier for earlier, later in itertools.pairwise(losses))
    assert losses[-1] < losses[0] / 2
    assert pair_accuracy(rewards, pair_index) == (8, 8)


def test_grouped_loss_weighted_by_pair_equals_trl_reward_trainers_own_loss_on_a_fixed_batch(tmp_path):
    """The same tiny model, the same two rankings: TRL's compute_loss on their pairs == our grouped loss."""
    import datasets
    import trl
    from tiny_models import make_reward_model, make_tokenizer

    from trainer.reward import _tokenize, pair_rows
    from trainer.scoring import pad

    tokenizer = make_tokenizer(["prompt A", "prompt B", "a0 a1 a2 b0 b1 b2 b3"])
    model = make_reward_model(tokenizer).eval()
    tokens = _tokenize(tokenizer, [A, B], max_length=64)
    rows = pair_rows(tokens, STATED_AS_THEY_ARE)  # what `--loss pairwise` hands TRL
    args = trl.RewardConfig(
        output_dir=str(tmp_path), report_to=[], use_cpu=True, bf16=False, activation_checkpointing=False
    )
    trainer = trl.RewardTrainer(
        model=model, args=args, train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer
    )
    with torch.no_grad():
        trl_loss = trainer.compute_loss(model, trainer.data_collator(rows))

        flat = [ids for _, answers in tokens.rankings for ids in answers]
        input_ids, attention_mask = pad(flat, tokenizer.pad_token_id)
        rewards = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, 0]  # (7,)
        _, _, pair_index, margins, group_of_pair = batch_for_prompts([A, B], STATED_AS_THEY_ARE)
        ours = grouped_loss(rewards, pair_index, margins, group_of_pair, 2, weighting="pair")
        per_prompt = grouped_loss(rewards, pair_index, margins, group_of_pair, 2, weighting="prompt")
    assert len(rows) == 8
    assert_close(ours, trl_loss, rtol=1e-5, atol=1e-6)
    assert not torch.isclose(per_prompt, trl_loss)  # the default weighting really is a different average


def first_step_loss(folder, capsys, margin: str) -> float:
    """The loss of the first step of `labeler-train reward` on rankings of 3 answers whose two strengths
    were stated as 2 each (the default the store fills in where none is stated), from a fresh tiny model."""
    from tiny_models import make_reward_model, make_tokenizer

    from trainer.reward import RewardConfig, train_reward

    folder.mkdir()
    texts = [f"answer {a} of prompt {p}" for p in range(6) for a in range(3)]
    prompts = [(f"prompt {p}", texts[3 * p : 3 * p + 3]) for p in range(6)]
    make_project(folder / "project.db", prompts, ranked_by=["ann"], ranking=lambda ids: Ranking.of(ids, [2, 2]))
    make_reward_model(make_tokenizer([*texts, *(f"prompt {p}" for p in range(6))]), folder / "base")
    settings = {"tune": "all", "eval_fraction": 0, "save_steps": 0, "events": True, "margin": margin}
    train_reward(RewardConfig(folder / "project.db", folder / "out", base=str(folder / "base"), **settings))
    steps = [event for event in map(json.loads, capsys.readouterr().out.splitlines()) if event["event"] == "step"]
    return steps[0]["loss"]


def test_training_without_margins_starts_at_log_2_where_the_margins_of_old_started_far_higher(tmp_path, capsys):
    """A fresh score head gives every answer a reward near 0, so each pair's loss starts near -log σ(0) = log 2.
    The margins the trainer used to subtract, 2 per step whether stated or not, start it at the mean of
    log(1 + e^m) over the pairs' m = 2, 4, 2: (2 log(1 + e^2) + log(1 + e^4)) / 3 ≈ 2.757."""
    no_margin = first_step_loss(tmp_path / "none", capsys, "none")
    old_default = first_step_loss(tmp_path / "scaled", capsys, "scaled")  # scale 1: the stated 2s, as of old
    assert no_margin == pytest.approx(math.log(2), abs=0.02)
    assert old_default == pytest.approx((2 * math.log(1 + math.exp(2)) + math.log(1 + math.exp(4))) / 3, abs=0.05)
