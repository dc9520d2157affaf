"""Flags, rating and comment: one value, converted to and from the draft, a stored judgement and a Judgement."""

import pytest

from labeler.domain import Flag, Judgement, Ranking
from labeler.ui.judgement_details import JudgementDetails
from labeler.ui.ranking_input import RankingInputError


def test_the_draft_round_trip_keeps_everything_and_drops_what_is_no_longer_valid():
    details = JudgementDetails()
    details.set_flags(2, {"harmful", "hallucination"})
    details.set_flags(3, set())
    details.rate(6)
    details.comment = "the second one invents a date"
    draft = details.to_draft()
    assert draft == {
        "flags": {"2": ["hallucination", "harmful"]},
        "likert": 6,
        "comment": "the second one invents a date",
    }
    assert JudgementDetails.from_draft(draft, answer_count=3).to_draft() == draft
    # A draft is read from the file: an answer that is gone, an unknown flag, a rating out of range.
    stale = {"flags": {"2": ["harmful", "made-up"], "7": ["harmful"], "x": []}, "likert": 9, "comment": 3}
    assert JudgementDetails.from_draft(stale, answer_count=3) == JudgementDetails({2: frozenset({"harmful"})})


def test_a_rating_outside_1_to_7_is_refused():
    with pytest.raises(RankingInputError, match="1 to 7"):
        JudgementDetails().rate(8)


def test_answer_numbers_become_answer_ids_for_the_judgement_and_back_from_the_stored_row():
    order = [40, 10, 30]  # answer ids as numbered 1, 2, 3 on the cards
    details = JudgementDetails({3: frozenset({"harmful"}), 1: frozenset()}, likert=4, comment="ok")
    arguments = details.judgement_arguments(order)
    assert arguments == {"flags": {30: frozenset({Flag.HARMFUL})}, "likert": 4, "comment": "ok"}
    judgement = Judgement.ranked(Ranking.of([10, 30, 40]), **arguments)
    judgement.validate(order)
    row = {"display_order": order, "flags": {"30": ["harmful"]}, "likert": 4, "comment": "ok"}
    assert JudgementDetails.from_judgement(row) == JudgementDetails({3: frozenset({"harmful"})}, 4, "ok")
    assert details.flagged() == [3]
