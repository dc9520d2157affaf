"""Rounds: a generate run's answers make a new round of a prompt; the queue offers each annotator the
latest round's task once, with the previous round's best answer carried over (labeler.store.rounds)."""

from collections import Counter

import pytest
from helpers.before_m004 import add_prompt_before_m005, record_as_before_m004
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labeler.domain import Judgement, Outcome, Ranking, ranking_to_pairs
from labeler.migrations import SCHEMA
from labeler.store import NewAnswer, open_store
from labeler.store.bulk_reads import current_judgements
from labeler.store.queue import next_prompt, progress
from labeler.store.rounds import best_answer, room_for_new_answers


def ranked(*tiers: list[int]) -> Judgement:
    return Judgement(Outcome.RANKED, Ranking.of([list(tier) for tier in tiers]))


def rank_in_id_order(store, annotator: str, prompt_id: int) -> None:
    """Judge the prompt's task: its answers ranked in id order, the lowest id best."""
    shown = list(store.task(prompt_id).answer_ids)
    store.record_judgement(prompt_id, annotator, ranked(*[[a] for a in shown]), shown)


def generated(*texts: str) -> list[NewAnswer]:
    return [NewAnswer(text, model="policy-2", source="labeler-train generate") for text in texts]


def test_a_judged_prompt_comes_back_with_its_new_round_and_the_best_of_the_last(tmp_path):
    store = open_store(tmp_path / "p.db", create=True)
    prompt, (a, b, c) = store.add_prompt("p", [NewAnswer("a"), NewAnswer("b"), NewAnswer("c")])
    assert (store.task(prompt).round, store.task(prompt).answer_ids) == (1, (a, b, c))
    store.record_judgement(prompt, "ann", ranked([b], [a], [c]), [a, b, c])
    assert next_prompt(store, "ann") is None

    new_round = store.add_round("p", generated("d", "e"))
    d, e = new_round.answer_ids
    assert (new_round.round, new_round.no_room) == (2, 0)
    task = store.task(prompt)
    assert (task.round, task.answer_ids, task.carried) == (2, (b, d, e), b)
    assert next_prompt(store, "ann") == prompt  # the same annotator sees the prompt again, in round 2
    assert progress(store, "ann") == (1, 2)

    store.record_judgement(prompt, "ann", ranked([d], [b, e]), [e, b, d])
    assert [(j.round, j.tiers) for j in current_judgements(store)] == [(1, [[b], [a], [c]]), (2, [[d], [b, e]])]
    assert next_prompt(store, "ann") is None
    assert progress(store, "ann") == (2, 2)
    assert store.task(prompt).round == 2  # a round is only made by new answers


def test_answers_generated_twice_before_anyone_judged_go_into_one_task(tmp_path):
    store = open_store(tmp_path / "p.db", create=True)
    prompt, _ = store.add_prompt("p", [NewAnswer("a")])  # a reference answer alone: no task
    assert next_prompt(store, "ann") is None
    assert store.add_round("p", generated("b", "c")).round == 1  # round 1 was never judged
    assert store.add_round("p", generated("c", "d")).answer_ids[1:] == []  # "c" is there already
    task = store.task(prompt)
    assert (task.round, len(task.answer_ids), task.carried) == (1, 4, None)
    assert next_prompt(store, "ann") == prompt


def test_a_skipped_round_is_not_judged_but_an_all_bad_one_is(tmp_path):
    store = open_store(tmp_path / "p.db", create=True)
    prompt, shown = store.add_prompt("p", [NewAnswer("a"), NewAnswer("b")])
    store.record_judgement(prompt, "ann", Judgement(Outcome.SKIPPED, skip_reason="unsure"), shown)
    assert store.add_round("p", generated("c")).round == 1
    three = list(store.task(prompt).answer_ids)
    store.record_judgement(prompt, "bob", Judgement(Outcome.ALL_BAD), three)
    new_round = store.add_round("p", generated("d", "e"))
    assert new_round.round == 2
    assert store.task(prompt).answer_ids == tuple(new_round.answer_ids)  # nothing best to carry from all-bad


def test_a_new_round_leaves_room_for_the_carried_answer_and_says_what_did_not_fit(tmp_path):
    store = open_store(tmp_path / "p.db", create=True)
    prompt, (a, b) = store.add_prompt("p", [NewAnswer("a"), NewAnswer("b")])
    store.record_judgement(prompt, "ann", ranked([a], [b]), [a, b])
    assert room_for_new_answers(store.conn, prompt) == 8
    new_round = store.add_round("p", generated(*"cdefghijk"))
    assert (len(new_round.answer_ids), new_round.no_room) == (8, 1)
    assert len(store.task(prompt).answer_ids) == 9
    assert room_for_new_answers(store.conn, prompt) == 0


def test_a_correction_of_an_earlier_round_stays_in_that_round(tmp_path):
    store = open_store(tmp_path / "p.db", create=True)
    prompt, (a, b) = store.add_prompt("p", [NewAnswer("a"), NewAnswer("b")])
    first = store.record_judgement(prompt, "ann", ranked([a], [b]), [a, b])
    (c,) = store.add_round("p", generated("c")).answer_ids
    assert store.task(prompt).answer_ids == (a, c)
    store.record_judgement(prompt, "ann", ranked([b], [a]), [a, b], supersedes=first.uuid)
    assert (
        store.judgement_row(store.conn.execute("SELECT uuid FROM judgements ORDER BY id DESC").fetchone()[0])["round"]
        == 1
    )
    assert store.task(prompt).answer_ids == (b, c)  # the corrected ranking's best is carried now
    retraction = store.retract_judgement(
        store.conn.execute("SELECT uuid FROM judgements ORDER BY id DESC").fetchone()[0], "ann"
    )
    assert store.conn.execute("SELECT round FROM judgements WHERE uuid = ?", [retraction.uuid]).fetchone() == (1,)
    assert store.task(prompt).answer_ids == (c,)  # nothing ranked in round 1 now: one answer, no task
    assert next_prompt(store, "ann") is None


def test_a_project_from_before_rounds_is_all_round_1_and_its_queue_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    with monkeypatch.context() as before:
        before.setattr("labeler.migrations.SCHEMA", SCHEMA[:4])
        with open_store(path, create=True) as store:
            judged, answers = add_prompt_before_m005(store, "judged", ["a", "b"])
            record_as_before_m004(store, judged, "ann", [[answers[0]], [answers[1]]], [3])
            waiting, _ = add_prompt_before_m005(store, "waiting", ["c", "d", "e"])
    with open_store(path) as store:
        assert store.conn.execute("SELECT DISTINCT round FROM answers").fetchall() == [(1,)]
        assert [j.round for j in current_judgements(store)] == [1]
        assert next_prompt(store, "ann") == waiting
        assert next_prompt(store, "bob") == waiting  # one judge per prompt: "judged" has its judge
        assert store.add_round("judged", generated("f")).round == 2
        assert next_prompt(store, "bob") == judged


def independent_best(store, prompt_id: int, round_number: int) -> int | None:
    """The best answer of a round, worked out from the current rankings with the domain's own pairs."""
    net = Counter()
    for judgement in current_judgements(store):
        if judgement.prompt_id == prompt_id and judgement.round == round_number and judgement.tiers:
            for pair in ranking_to_pairs(Ranking.of(judgement.tiers)):
                net[pair.chosen] += 1
                net[pair.rejected] -= 1
    return min(net, key=lambda answer: (-net[answer], answer)) if net else None


step = st.one_of(
    st.tuples(st.just("judge"), st.sampled_from(["ann", "bob", "cy"]), st.randoms(use_true_random=False)),
    st.tuples(st.just("generate"), st.integers(0, 2), st.integers(1, 9)),
    st.tuples(st.just("withdraw"), st.sampled_from(["ann", "bob", "cy"]), st.integers(0, 5)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, max_size=25), wanted=st.integers(1, 2))
def test_the_rounds_queue_offers_each_task_once_honours_the_overlap_and_carries_the_best(
    tmp_path_factory, steps, wanted
):
    path = tmp_path_factory.mktemp("rounds") / "p.db"
    store = open_store(path, create=True)
    store.set_setting("annotators_per_prompt", wanted)
    prompts = [store.add_prompt(f"prompt {n}", [NewAnswer(f"{n}.{k}") for k in range(2 + n)])[0] for n in range(3)]
    offered: Counter = Counter()  # (annotator, prompt, round) -> times offered and judged
    fresh = 0
    for action, *args in steps:
        if action == "judge":
            annotator, rng = args
            prompt_id = next_prompt(store, annotator)
            if prompt_id is None:
                continue
            task = store.task(prompt_id)
            assert 2 <= len(task.answer_ids) <= 9
            offered[annotator, prompt_id, task.round] += 1
            shown = list(task.answer_ids)
            rng.shuffle(shown)
            outcome = rng.choice([Outcome.RANKED, Outcome.RANKED, Outcome.ALL_BAD, Outcome.SKIPPED])
            if outcome == Outcome.RANKED:
                cut = rng.randrange(1, len(shown))
                judgement = ranked(shown[:cut], shown[cut:])
            else:
                judgement = Judgement(outcome, skip_reason="x" if outcome == Outcome.SKIPPED else None)
            store.record_judgement(prompt_id, annotator, judgement, shown)
        elif action == "generate":
            which, count = args
            store.add_round(f"prompt {which}", generated(*[f"new {fresh + k}" for k in range(count)]))
            fresh += count
        else:
            annotator, back = args
            own = [j for j in current_judgements(store) if j.annotator == annotator]
            if own:
                withdrawn = own[-1 - back % len(own)]
                store.retract_judgement(withdrawn.uuid, annotator)
                offered[annotator, withdrawn.prompt_id, withdrawn.round] -= 1  # free to be offered again

    assert all(times <= 1 for times in offered.values())  # every task offered once per annotator and round
    judges = Counter((j.prompt_id, j.round) for j in current_judgements(store))
    assert all(count <= wanted for count in judges.values())  # the overlap is honoured
    for prompt_id in prompts:
        task = store.task(prompt_id)
        latest_own = [
            a
            for a in task.answer_ids
            if store.conn.execute("SELECT round FROM answers WHERE id = ?", [a]).fetchone()[0] == task.round
        ]
        expected = independent_best(store, prompt_id, task.round - 1) if task.round > 1 else None
        if len(latest_own) < 9:
            assert task.carried == expected  # the carried-over answer is the current best
            assert task.carried == best_answer(store.conn, prompt_id, task.round - 1) if task.round > 1 else True
        assert set(task.answer_ids) == set(latest_own) | ({task.carried} - {None})
    store.close()


@pytest.mark.parametrize("wanted", [1, 2])
def test_every_annotator_judges_every_round_of_every_prompt_exactly_once(tmp_path, wanted):
    """Three annotators work the queue dry, a new round comes to every prompt, they work it dry again."""
    store = open_store(tmp_path / "p.db", create=True)
    store.set_setting("annotators_per_prompt", wanted)
    for n in range(5):
        store.add_prompt(f"prompt {n}", [NewAnswer(f"{n}.a"), NewAnswer(f"{n}.b"), NewAnswer(f"{n}.c")])
    for round_number in (1, 2):
        for annotator in ("ann", "bob", "cy"):
            while (prompt_id := next_prompt(store, annotator)) is not None:
                rank_in_id_order(store, annotator, prompt_id)
        judges = Counter((j.prompt_id, j.round) for j in current_judgements(store) if j.round == round_number)
        assert sorted(judges.values()) == [wanted] * 5
        for n in range(5):
            store.add_round(f"prompt {n}", generated(f"{n}.{round_number}x", f"{n}.{round_number}y"))
    assert {j.round for j in current_judgements(store)} == {1, 2}
