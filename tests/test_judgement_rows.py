"""The judgements table's one codec: what a writer encodes is what every reader decodes, merges included."""

import json

from labeler.domain import Flag, Judgement, Outcome, Ranking
from labeler.store import NewAnswer
from labeler.store.bulk_reads import current_judgements, current_rankings
from labeler.store.judgement_rows import decode_columns, decode_ranking, judgement_columns, with_answer_ids


def test_a_ranking_with_ties_and_unstated_strengths_comes_back_as_it_was_recorded():
    ranking = Ranking.of([[7], [3, 5], [9]], [None, 3])
    judgement = Judgement.ranked(ranking, flags={9: frozenset({Flag.HALLUCINATION}), 3: frozenset()}, likert=5)
    columns = judgement_columns(judgement, [9, 5, 7, 3])

    assert json.loads(columns["tiers"]) == [[7], [3, 5], [9]]
    assert json.loads(columns["stated_strengths"]) == [None, 3]
    assert json.loads(columns["strengths"]) == list(ranking.strengths)  # the default filled in where unstated
    assert json.loads(columns["flags"]) == {"9": ["hallucination"]}  # an answer without flags is left out
    assert (columns["outcome"], columns["likert"]) == ("ranked", 5)
    assert decode_ranking(columns["tiers"], columns["strengths"], columns["stated_strengths"]) == ranking
    decoded = decode_columns(columns)
    assert decoded["display_order"] == [9, 5, 7, 3]
    assert decoded["flags"] == {"9": ["hallucination"]}


def test_a_judgement_without_a_ranking_has_null_ranking_columns():
    columns = judgement_columns(Judgement.skipped("unsure"), [1, 2])
    assert (columns["tiers"], columns["strengths"], columns["stated_strengths"]) == (None, None, None)
    assert (columns["outcome"], columns["skip_reason"]) == (Outcome.SKIPPED, "unsure")
    assert decode_columns(columns)["tiers"] is None


def test_a_merge_maps_every_answer_id_in_the_json_columns():
    judgement = Judgement.ranked(Ranking.of([[1], [2, 3]]), flags={3: frozenset({Flag.HARMFUL})})
    row = {"uuid": "u", **judgement_columns(judgement, [3, 1, 2])}
    mapped = decode_columns(with_answer_ids(row, lambda answer: answer + 100))
    assert mapped["tiers"] == [[101], [102, 103]]
    assert mapped["display_order"] == [103, 101, 102]
    assert mapped["flags"] == {"103": ["harmful"]}
    assert mapped["uuid"] == "u"


def test_what_the_store_records_is_what_its_bulk_readers_read(store):
    prompt_id, ids = store.add_prompt("q", [NewAnswer(text) for text in "abcd"])
    ranking = Ranking.of([[ids[2]], [ids[0], ids[1]], [ids[3]]], [1, None])
    flags = {ids[3]: frozenset({Flag.HARMFUL, Flag.HALLUCINATION})}
    recorded = store.record_judgement(prompt_id, "ann", Judgement.ranked(ranking, flags=flags), ids[::-1])

    [read] = current_judgements(store)
    assert read.uuid == recorded.uuid
    assert (read.tiers, read.stated_strengths) == ([list(tier) for tier in ranking.tiers], [1, None])
    assert read.display_order == ids[::-1]
    assert read.flags == {str(ids[3]): ["hallucination", "harmful"]}
    assert current_rankings(store) == [(prompt_id, "ann", ranking)]
    assert store.judgement_row(recorded.uuid)["tiers"] == [list(tier) for tier in ranking.tiers]

    retraction = store.retract_judgement(recorded.uuid, "ann")
    assert store.judgement_row(retraction.uuid)["outcome"] == Outcome.RETRACTED
    assert current_judgements(store) == []
    assert store.stats().judgements == 0  # a retraction is not a decision
