"""The trainer's data door: snapshots with their hash, current rankings, the split by prompt, pairs."""

import hashlib
from pathlib import Path

import datasets
import pytest
from helpers.before_m004 import make_project_before_m004
from helpers.projects import make_project

from labeler.domain import Judgement, Ranking
from labeler.formats.export import ExportFormat, export_project
from labeler.store import NewAnswer, Store, StoreError, open_read_only, open_store
from labeler.store.bulk_reads import NOT_STATED, current_pair_columns
from trainer.data import RankedPrompt, pairs_of, ranked_prompts, snapshot_project, split_by_prompt, split_into_folds

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi."}]


def add(store: Store, prompt, texts: list[str]) -> tuple[int, list[int]]:
    return store.add_prompt(prompt, [NewAnswer(text) for text in texts])


def rank(store: Store, prompt_id: int, annotator: str, tiers, strengths=None, shown=None, supersedes=None) -> str:
    """Record a ranking (of the answers it places, in the order given unless `shown` says otherwise)."""
    ranking = Ranking.of(tiers, strengths)
    order = shown or [answer for tier in ranking.tiers for answer in tier]
    return store.record_judgement(prompt_id, annotator, Judgement.ranked(ranking), order, supersedes=supersedes).uuid


@pytest.fixture
def project(store: Store) -> dict[str, int]:
    """Every kind of judgement by alice and bob; the comment on each says whether ranked_prompts keeps it."""
    colour, (red, green, blue) = add(store, "Name a primary colour.", ["red", "green", "blue"])
    greeting, (hi, hello, hey, yo) = add(store, CHAT, ["hi", "hello", "hey", "yo"])
    haiku, haiku_answers = add(store, "Write a haiku.", ["one", "two"])
    joke, joke_answers = add(store, "Tell a joke.", ["x", "y"])
    count, count_answers = add(store, "Count to three.", ["1 2 3", "one two three"])

    # Superseded below by alice's correction: left out.
    first = rank(store, colour, "alice", [red, green, blue])
    # Kept; shown in another order than ranked.
    rank(store, colour, "bob", [green, red, blue], [1, 3], shown=[blue, red, green])
    # Kept; 3 of the prompt's 4 answers shown, neither shown nor ranked in id order.
    rank(store, greeting, "alice", [yo, [hi, hello]], [2], shown=[yo, hello, hi])
    # Retracted: left out.
    store.retract_judgement(rank(store, greeting, "bob", [hey, yo]), "bob")
    # "All bad", skipped, and a ranking that ties everything imply no pair: left out.
    store.record_judgement(haiku, "alice", Judgement.all_bad(), haiku_answers)
    store.record_judgement(joke, "bob", Judgement.skipped("cannot judge humour"), joke_answers)
    rank(store, count, "bob", [count_answers])
    # The correction, recorded last: kept, after bob's and the greeting (oldest first).
    rank(store, colour, "alice", [blue, [red, green]], [3], supersedes=first)
    return {"colour": colour, "greeting": greeting}


def test_ranked_prompts_are_the_current_rankings_with_answers_in_id_order(store, project):
    assert ranked_prompts(store) == [
        RankedPrompt(
            project["colour"], "Name a primary colour.", ["red", "green", "blue"], [[1], [0], [2]], [1, 3], "bob"
        ),
        RankedPrompt(project["greeting"], CHAT, ["hi", "hello", "yo"], [[2], [0, 1]], [2], "alice"),
        RankedPrompt(
            project["colour"], "Name a primary colour.", ["red", "green", "blue"], [[2], [0, 1]], [3], "alice"
        ),
    ]


def test_ranked_prompts_of_some_annotators(store, project):
    assert [(item.prompt_id, item.annotator) for item in ranked_prompts(store, ["bob"])] == [(project["colour"], "bob")]
    assert [item.annotator for item in ranked_prompts(store, ["alice"])] == ["alice", "alice"]
    assert ranked_prompts(store, ["carol"]) == []


@pytest.mark.usefixtures("project")
def test_pairs_of_each_ranking_with_stated_margins_summed_over_tiers(store):
    bob, greeting, correction = ranked_prompts(store)
    # green > red (1) > blue (3): red-blue is one step of 3, green-blue two steps, 1 + 3.
    assert pairs_of(bob) == [(1, 0, 1), (1, 2, 4), (0, 2, 3)]
    # yo above the tied hi and hello: no pair between hi and hello.
    assert pairs_of(greeting) == [(2, 0, 2), (2, 1, 2)]
    assert pairs_of(correction) == [(2, 0, 3), (2, 1, 3)]


def test_a_strength_nobody_stated_gives_its_pairs_no_margin(store):
    prompt_id, answers = add(store, "Rank these.", ["a", "b", "c"])
    rank(store, prompt_id, "carol", answers, [None, 3])
    (item,) = ranked_prompts(store)
    assert item.stated_strengths == [None, 3]
    # a-b: not stated; a-c: only the stated 3 of its two steps; b-c: 3
    assert pairs_of(item) == [(0, 1, None), (0, 2, 3), (1, 2, 3)]


def test_rankings_recorded_before_m004_are_read_by_the_rule(project_path, monkeypatch):
    make_project_before_m004(project_path, monkeypatch)
    with open_store(project_path) as store:
        stated = {item.prompt: item.stated_strengths for item in ranked_prompts(store)}
    assert stated == {"stated prompt": [3, 1], "default prompt": [None, None], "mixed prompt": [None, 3]}


@pytest.mark.usefixtures("project")
def test_pairs_of_agree_with_the_pairs_the_store_derived(store):
    from_items = sorted(
        (item.prompt_id, item.answers[chosen], item.answers[rejected], stated_margin, item.annotator)
        for item in ranked_prompts(store)
        for chosen, rejected, stated_margin in pairs_of(item)
    )
    text_of = {answer.id: answer.text for pid in store.prompt_ids() for answer in store.prompt(pid).answers}
    columns = current_pair_columns(store)
    from_store = sorted(
        (prompt_id, text_of[chosen], text_of[rejected], None if stated == NOT_STATED else stated, annotator)
        for prompt_id, chosen, rejected, stated, annotator in zip(
            *(columns[name] for name in ("prompt_id", "chosen", "rejected", "stated_margin", "annotator")), strict=True
        )
    )
    assert from_items == from_store


# -- split by prompt -------------------------------------------------------------------------------


def item(prompt_id: int, annotator: str = "alice") -> RankedPrompt:
    return RankedPrompt(prompt_id, f"prompt {prompt_id}", ["a", "b"], [[0], [1]], [2], annotator)


# Ten prompts; prompt 3 ranked by two annotators, whose rankings must stay on one side.
ITEMS = [item(p) for p in range(10)] + [item(3, "bob")]


def prompts_in(items: list[RankedPrompt]) -> set[int]:
    return {i.prompt_id for i in items}


def test_split_holds_out_whole_prompts_and_keeps_the_order():
    train, held_out = split_by_prompt(ITEMS, eval_fraction=0.3, seed=7)
    assert len(prompts_in(held_out)) == 3
    assert len(prompts_in(train)) == 7
    assert prompts_in(train).isdisjoint(prompts_in(held_out))
    assert sorted(train + held_out, key=ITEMS.index) == ITEMS
    assert train == [i for i in ITEMS if i in train]
    assert held_out == [i for i in ITEMS if i in held_out]


def test_split_is_the_same_for_a_seed_and_varies_with_it():
    assert split_by_prompt(ITEMS, 0.3, seed=7) == split_by_prompt(ITEMS, 0.3, seed=7)
    assert len({frozenset(prompts_in(split_by_prompt(ITEMS, 0.3, seed)[1])) for seed in range(10)}) > 1


def test_split_holds_out_at_least_one_prompt_and_never_all():
    assert len(prompts_in(split_by_prompt(ITEMS, 0.01, seed=0)[1])) == 1
    assert len(prompts_in(split_by_prompt(ITEMS, 0.99, seed=0)[0])) == 1


def test_split_with_no_eval_fraction_trains_on_everything():
    assert split_by_prompt(ITEMS, 0.0, seed=0) == (ITEMS, [])
    assert split_by_prompt([item(1), item(1, "bob")], 0.0, seed=0) == ([item(1), item(1, "bob")], [])


@pytest.mark.parametrize(
    ("items", "fraction", "message"),
    [
        ([], 0.2, "nothing to split: there are no ranked judgements"),
        ([item(1), item(1, "bob")], 0.2, "all judgements are of one prompt: nothing to hold out"),
        (ITEMS, 1.0, "the eval fraction must be at least 0 and below 1, got 1.0"),
        (ITEMS, -0.1, "the eval fraction must be at least 0 and below 1, got -0.1"),
        (ITEMS, float("nan"), "the eval fraction must be at least 0 and below 1, got nan"),
    ],
)
def test_split_refuses_what_cannot_be_split(items, fraction, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        split_by_prompt(items, fraction, seed=0)


def test_folds_hold_out_every_prompt_once_in_nearly_equal_parts():
    held = [prompts_in(split_into_folds(ITEMS, 3, fold, seed=4)[1]) for fold in (1, 2, 3)]
    assert sorted(len(prompts) for prompts in held) == [3, 3, 4]
    assert set().union(*held) == prompts_in(ITEMS)
    assert sum(map(len, held)) == len(prompts_in(ITEMS))  # disjoint
    for fold in (1, 2, 3):
        train, held_out = split_into_folds(ITEMS, 3, fold, seed=4)
        assert prompts_in(train).isdisjoint(prompts_in(held_out))
        assert sorted(train + held_out, key=ITEMS.index) == ITEMS  # bob's ranking of prompt 3 goes with alice's


def test_folds_follow_the_seed():
    assert split_into_folds(ITEMS, 5, 2, seed=1) == split_into_folds(ITEMS, 5, 2, seed=1)
    assert len({frozenset(prompts_in(split_into_folds(ITEMS, 5, 1, seed)[1])) for seed in range(10)}) > 1


@pytest.mark.parametrize(
    ("items", "folds", "fold", "message"),
    [
        (ITEMS, 1, 1, "fold 1 of 1: use at least 2 folds, numbered from 1"),
        (ITEMS, 5, 0, "fold 0 of 5: use at least 2 folds, numbered from 1"),
        (ITEMS, 5, 6, "fold 6 of 5: use at least 2 folds, numbered from 1"),
        ([], 5, 1, "nothing to split: there are no ranked judgements"),
        (ITEMS, 11, 1, "10 prompts cannot be cut into 11 folds"),
    ],
)
def test_folds_refuse_what_cannot_be_cut(items, folds, fold, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        split_into_folds(items, folds, fold, seed=0)


def test_split_holds_out_the_prompts_labeler_export_holds_out(store, tmp_path):
    for number in range(8):
        answer_ids = add(store, f"prompt {number}", ["good", "bad"])[1]
        rank(store, store.prompt_ids()[-1], "alice", answer_ids)
    export_project(store, tmp_path / "export", fmt=ExportFormat.TRL, test_fraction=0.25, seed=5)
    exported = datasets.load_from_disk(str(tmp_path / "export"))
    _, held_out = split_by_prompt(ranked_prompts(store), 0.25, seed=5)
    assert {i.prompt for i in held_out} == set(exported["test"]["prompt"])


# -- snapshots -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("project")
def test_snapshot_is_a_hashed_copy_taken_while_the_project_stays_in_use(store, project_path, tmp_path):
    before = ranked_prompts(store)
    copy, digest = snapshot_project(project_path, tmp_path / "run" / "data")
    # The live project keeps taking judgements; the copy does not see them.
    prompt_id, answer_ids = add(store, "A new prompt.", ["yes", "no"])
    rank(store, prompt_id, "carol", answer_ids)

    assert copy == tmp_path / "run" / "data" / "project-snapshot.db"
    assert digest == hashlib.sha256(copy.read_bytes()).hexdigest()
    with open_read_only(copy) as snapshot:
        assert ranked_prompts(snapshot) == before
    # Read only, the copy keeps the bytes its hash names.
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    assert len(ranked_prompts(store)) == len(before) + 1


def test_snapshot_refuses_to_overwrite_an_earlier_one(project_path: Path, tmp_path):
    make_project(project_path)
    snapshot_project(project_path, tmp_path / "run")
    with pytest.raises(StoreError, match="already exists"):
        snapshot_project(project_path, tmp_path / "run")
