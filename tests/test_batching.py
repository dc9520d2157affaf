"""The reward trainer's batches: whole rankings, each once, of similar lengths, the same for a seed."""

import random

from trainer.batching import pack_rankings


def lengths_like_real_chats(count: int, seed: int = 0) -> list[int]:
    """Token lengths spread as HH's are (a long tail up to 512), for the padding comparison."""
    rng = random.Random(seed)
    return [min(512, int(rng.lognormvariate(4.8, 0.7))) for _ in range(count)]


def padded_tokens(batches: list[list[int]], sizes: list[int], lengths: list[int]) -> int:
    return sum(sum(sizes[i] for i in batch) * max(lengths[i] for i in batch) for batch in batches)


def test_every_ranking_once_and_no_batch_over_its_answers():
    rng = random.Random(1)
    sizes = [rng.randint(2, 9) for _ in range(500)]
    lengths = lengths_like_real_chats(500)
    batches = pack_rankings(sizes, lengths, batch_size=32, seed=3)
    assert sorted(i for batch in batches for i in batch) == list(range(500))
    assert all(sum(sizes[i] for i in batch) <= 32 for batch in batches)
    assert all(batch for batch in batches)


def test_a_ranking_bigger_than_a_batch_is_a_batch_of_its_own():
    assert pack_rankings([9, 2], [10, 10], batch_size=4, seed=0) in ([[0], [1]], [[1], [0]])


def test_the_same_seed_gives_the_same_batches_and_another_seed_others():
    sizes, lengths = [2] * 400, lengths_like_real_chats(400)
    assert pack_rankings(sizes, lengths, 32, seed=5) == pack_rankings(sizes, lengths, 32, seed=5)
    assert pack_rankings(sizes, lengths, 32, seed=5) != pack_rankings(sizes, lengths, 32, seed=6)


def test_grouping_by_length_pads_far_less_than_packing_at_random():
    sizes, lengths = [2] * 1600, lengths_like_real_chats(1600)
    grouped = pack_rankings(sizes, lengths, 32, seed=0)
    order = list(range(1600))
    random.Random(0).shuffle(order)
    at_random = [order[i : i + 16] for i in range(0, 1600, 16)]
    real = sum(s * n for s, n in zip(sizes, lengths, strict=True))
    assert padded_tokens(at_random, sizes, lengths) / real > 2.0
    assert padded_tokens(grouped, sizes, lengths) / real < 1.2


def test_no_rankings_no_batches():
    assert pack_rankings([], [], 32, seed=0) == []
