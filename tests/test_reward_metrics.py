"""The figures a reward model's metrics.json sets its held-out accuracy beside."""

from trainer.data import RankedPrompt
from trainer.reward import _agreement_on


def ranking(prompt_id, annotator, answers, tiers):
    return RankedPrompt(prompt_id, "p", answers, tiers, [None] * (len(tiers) - 1), annotator)


def test_annotator_agreement_on_the_held_out_prompts_is_the_ceiling_beside_the_accuracy():
    held_out = [
        # prompt 1: ann a > b > c, bob b > a > c: of the 3 answer pairs they agree on (a, c) and (b, c)
        ranking(1, "ann", ["a", "b", "c"], [[0], [1], [2]]),
        ranking(1, "bob", ["a", "b", "c"], [[1], [0], [2]]),
        # prompt 2: ann and bob agree; bob placed the answers in another order: told apart by their text
        ranking(2, "ann", ["x", "y"], [[0], [1]]),
        ranking(2, "bob", ["y", "x"], [[1], [0]]),
        # prompt 3: one annotator, no comparison; a tie gives none either
        ranking(3, "ann", ["p", "q"], [[0], [1]]),
    ]
    assert _agreement_on(held_out) == {"eval_annotator_agreement": 3 / 4, "eval_agreement_comparisons": 4}
    assert _agreement_on(held_out[-1:]) == {"eval_annotator_agreement": None, "eval_agreement_comparisons": 0}
