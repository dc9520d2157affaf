"""The figures a reward model's metrics.json sets its held-out accuracy beside."""

from helpers.projects import make_project

from labeler.store import open_store
from trainer.data import RankedPrompt
from trainer.reward import _agreement_on, _shown_earlier_wins_on


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


def test_the_answer_shown_earlier_wins_counts_only_what_was_labelled_in_the_app():
    held_out = [
        # shown c, a, b; ranked a > b > c: (a, b) earlier wins, (a, c) and (b, c) later wins
        RankedPrompt(1, "p", ["a", "b", "c"], [[0], [1], [2]], [None, None], "ann", shown_order=[2, 0, 1]),
        # shown x, y; ranked x > y: the earlier wins
        RankedPrompt(2, "p", ["x", "y"], [[0], [1]], [None], "ann", shown_order=[0, 1]),
        # imported: its order is the file's, left out
        RankedPrompt(3, "p", ["p", "q"], [[0], [1]], [None], "file"),
    ]
    assert _shown_earlier_wins_on(held_out) == {"eval_shown_earlier_wins": 2 / 4, "eval_shown_pairs": 4}
    assert _shown_earlier_wins_on(held_out[2:]) == {"eval_shown_earlier_wins": None, "eval_shown_pairs": 0}


def test_rankings_read_from_a_project_carry_the_order_the_app_showed(tmp_path):
    import json

    from labeler.domain import Judgement, Ranking
    from labeler.formats.importer import import_files
    from trainer.data import ranked_prompts

    project = tmp_path / "p.db"
    [(shown_id, answer_ids)] = make_project(project, {"in the app": ["a", "b", "c"]})
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": "from a file", "answers": ["x", "y"], "ranking": [1, 0]}) + "\n")
    with open_store(project) as store:
        first, second, third = answer_ids
        store.record_judgement(
            shown_id, "ann", Judgement.ranked(Ranking.of([second, first, third])), [third, first, second],
            seconds_spent=4.0,
        )  # fmt: skip
        import_files(store, [rows])
        by_prompt = {item.prompt: item for item in ranked_prompts(store)}
    assert by_prompt["in the app"].shown_order == [2, 0, 1]  # c, a, b as indices into its answers
    assert by_prompt["from a file"].shown_order is None
