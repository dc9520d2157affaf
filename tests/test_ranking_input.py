"""The keyboard ranking scheme: numbers best to worst, '=' ties, Backspace, strengths, drafts."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labeler.domain import Ranking, ranking_to_pairs
from labeler.ui.ranking_input import RankingInput, RankingInputError

IDS = [101, 102, 103, 104]  # the ids of answers numbered 1..4 on the cards


def typed(keys: str, count: int = 4) -> RankingInput:
    """Apply keys as an annotator types them: digits, '=', '<' for Backspace, '+'/'-' for Shift+Up/Down."""
    state = RankingInput(count)
    for key in keys.replace(" ", ""):
        apply_key(state, key)
    return state


def test_the_example_from_the_guidelines():
    state = typed("3 = 1 4 2")
    assert state.is_complete
    assert state.describe() == "3 = 1 >> 4 >> 2"
    # No strength key pressed: both steps show the default (better), and neither was stated.
    assert state.to_ranking(IDS) == Ranking(((103, 101), (104,), (102,)), (None, None))
    assert state.to_ranking(IDS).strengths == (2, 2)


def test_strength_changes_apply_to_the_last_two_tiers_and_stay_in_range():
    state = typed("1 2 + + + 3 -")  # 4, the one left, is placed last by itself; "-" is for the step into 3
    assert state.strengths == [3, 1, 2]
    assert state.describe() == "1 >>> 2 > 3 >> 4"


def test_a_step_is_stated_once_a_strength_key_was_pressed_for_it():
    state = typed("1 2 + - 3 4 -")
    # 1-2: raised then lowered back to 2, but pressed, so stated; 2-3 never touched; 3-4 lowered to 1.
    assert (state.stated_strengths, state.strengths) == ([2, None, 1], [2, 2, 1])
    assert state.describe() == "1 >> 2 >> 3 > 4"
    assert state.to_ranking(IDS).stated_strengths == (2, None, 1)
    at_the_top = typed("1 2 + + + +")  # stays at much better, and stated
    assert at_the_top.stated_strengths == [3]


def test_moves_keep_each_steps_stated_strength_and_a_new_step_is_not_stated():
    state = typed("3 1 + 4 2 -")
    assert state.stated_strengths == [3, None, 1]
    # 2 leaves the bottom (the step above it goes with it) for a tier below 3: the step 3-2 keeps the
    # strength stated for 3-1, and the new step below 2 is not stated.
    state.move_to_new_tier(2, 1)
    assert (state.describe(), state.stated_strengths) == ("3 >>> 2 >> 1 >> 4", [3, None, None])
    state.take_back()  # 4 and the step above it; 4, the one left, is placed last by itself again
    assert (state.describe(), state.stated_strengths, state.auto_placed) == ("3 >>> 2 >> 1 >> 4", [3, None, None], 4)


def test_a_draft_keeps_which_steps_were_stated_and_an_older_draft_is_read_by_the_rule():
    state = typed("3 1 + 4 2")
    draft = state.to_draft()
    assert draft["stated_strengths"] == [3, None, None]
    assert RankingInput.from_draft(4, draft).stated_strengths == [3, None, None]
    # Saved before steps could go unstated: strengths only, the default filled in; 2 counts as not stated.
    older = {"tiers": [[3], [1], [4], [2]], "strengths": [3, 2, 1], "tie_pending": False}
    assert RankingInput.from_draft(4, older).stated_strengths == [3, None, 1]


def test_backspace_takes_back_placements_and_a_pending_tie():
    state = typed("3 = 1 <")
    assert (state.tiers, state.tie_pending) == ([[3]], True)
    state = typed("3 = <")
    assert (state.tiers, state.tie_pending) == ([[3]], False)
    state = typed("3 1 <")
    assert (state.tiers, state.stated_strengths) == ([[3]], [])
    state.take_back()
    with pytest.raises(RankingInputError, match="nothing to take back"):
        state.take_back()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("5", "there is no answer 5"),
        ("0", "there is no answer 0"),
        ("1 1", "already placed"),
        ("=", "place an answer first"),
        ("+", "two tiers first"),
        ("1 2 3 4 =", "every answer is placed"),
    ],
)
def test_keys_that_do_not_apply_say_why(keys, message):
    with pytest.raises(RankingInputError, match=message):
        typed(keys)


def test_an_incomplete_ranking_cannot_be_submitted():
    with pytest.raises(RankingInputError, match="still to place: 2, 4"):
        typed("3 1").to_ranking(IDS)


def test_tier_of():
    state = typed("2 = 4", count=5)
    assert [state.tier_of(n) for n in (1, 2, 3, 4, 5)] == [None, 0, None, 0, None]
    state = typed("2 = 4 1")  # 3, the one left, placed last by itself
    assert [state.tier_of(n) for n in (1, 2, 3, 4)] == [1, 0, 2, 0]


def test_the_one_answer_left_is_placed_last_so_a_pair_takes_one_key():
    pair = typed("2", count=2)
    assert (pair.is_complete, pair.describe()) == (True, "2 >> 1")
    assert pair.to_ranking([10, 20]).tiers == ((20,), (10,))
    assert typed("2 +", count=2).describe() == "2 >>> 1"  # the only step: its strength
    assert typed("2 1", count=2).describe() == "2 >> 1"  # typing it anyway: the same ranking
    assert typed("2 = 1", count=2).describe() == "2 = 1"  # a tie, as before
    assert typed("2 <", count=2).describe() == ""  # Backspace takes back the key and what it placed
    assert typed("3 1 4").describe() == "3 >> 1 >> 4 >> 2"
    assert typed("3 1 4 + 2").describe() == "3 >> 1 >>> 4 >> 2"  # "+" is for the step into 4, the last typed
    assert typed("3 1 4 = <").describe() == "3 >> 1 >> 4 >> 2"  # '=' and Backspace: as it was


@st.composite
def key_sequences(draw):
    count = draw(st.integers(2, 9))
    order = draw(st.permutations(range(1, count + 1)))
    keys = []
    tiers = 0
    for index, number in enumerate(order):
        if index and draw(st.booleans()):
            keys.append("=")
        else:
            tiers += 1
        keys.append(str(number))
        if tiers >= 2 and draw(st.integers(0, 3)) == 0:  # a strength needs two tiers
            keys.append(draw(st.sampled_from("+-")))
    return count, keys


@given(key_sequences())
def test_any_complete_typing_is_a_valid_ranking_and_survives_a_draft(case):
    count, keys = case
    state = RankingInput(count)
    for key in keys:
        apply_key(state, key)
    ids = [1000 + n for n in range(1, count + 1)]
    ranking = state.to_ranking(ids)
    assert ranking.answers == frozenset(ids)
    assert all(1 <= s <= 3 for s in ranking.strengths)
    restored = RankingInput.from_draft(count, state.to_draft())
    assert restored.to_ranking(ids) == ranking
    assert set(ranking_to_pairs(restored.to_ranking(ids))) == set(ranking_to_pairs(ranking))


@given(key_sequences(), st.data())
def test_backspace_undoes_exactly_the_last_step(case, data):
    count, keys = case
    cut = data.draw(st.integers(0, len(keys) - 1))
    before = RankingInput(count)
    for key in keys[:cut]:
        apply_key(before, key)
    after = RankingInput.from_draft(count, before.to_draft())
    if keys[cut] in "+-":
        return  # strength changes are undone with the opposite key, not Backspace
    apply_key(after, keys[cut])
    after.take_back()
    assert after.to_draft() == before.to_draft()


def apply_key(state: RankingInput, key: str) -> None:
    """One key: a digit places, '=' ties, '<' is Backspace, '+'/'-' are Shift+Up/Down."""
    if key.isdigit():
        state.place(int(key))
    elif key == "=":
        state.tie_next()
    elif key == "<":
        state.take_back()
    else:
        state.change_strength(+1 if key == "+" else -1)


def test_a_damaged_draft_cannot_make_a_bad_state():
    with pytest.raises(RankingInputError):
        RankingInput.from_draft(3, {"tiers": [[1, 1]], "strengths": []})
    restored = RankingInput.from_draft(3, {"tiers": [[1], [2]], "stated_strengths": [9]})
    assert restored.stated_strengths == [3]


# -- dragging in the ranking strip ------------------------------------------------------------------


def test_dragging_an_answer_onto_a_tier_ties_it():
    state = typed("3 1 4 2")
    state.move_into_tier(2, 0)  # 2 dropped on 3
    assert state.describe() == "3 = 2 >> 1 >> 4"
    state.move_into_tier(1, 0)
    assert state.describe() == "3 = 2 = 1 >> 4"
    assert state.to_ranking(IDS) == Ranking(((103, 102, 101), (104,)), (None,))


def test_dragging_an_answer_between_tiers_gives_it_a_tier_of_its_own():
    state = typed("3 1 4 + 2")
    assert state.describe() == "3 >> 1 >>> 4 >> 2"
    state.move_to_new_tier(2, 0)  # to the top
    assert state.describe() == "2 >> 3 >> 1 >>> 4"
    state.move_to_new_tier(3, 4)  # to the bottom
    assert state.describe() == "2 >> 1 >>> 4 >> 3"
    state.move_to_new_tier(4, 1)  # between 2 and 1; the strength above the tier it left stays
    assert state.describe() == "2 >> 4 >> 1 >>> 3"


def test_dragging_out_of_a_tie_and_out_of_the_ranking():
    state = typed("3 = 1 4 2")
    state.move_to_new_tier(1, 1)  # out of the tie, just below it
    assert state.describe() == "3 >> 1 >> 4 >> 2"
    state.unplace(4)
    assert state.describe() == "3 >> 1 >> 2"
    assert not state.is_complete
    state.place(4)
    assert state.describe() == "3 >> 1 >> 2 >> 4"
    state.move_into_tier(4, 0)
    state.move_to_new_tier(4, 0)  # out of the top tie, above it
    assert state.describe() == "4 >> 3 >> 1 >> 2"
    state.move_to_new_tier(4, 0)  # dropped where it is: nothing moves
    assert state.describe() == "4 >> 3 >> 1 >> 2"


def test_an_unplaced_answer_can_be_dragged_in_anywhere_and_a_drag_ends_a_pending_tie():
    state = typed("3 =")
    state.move_to_new_tier(2, 0)
    assert (state.describe(), state.tie_pending) == ("2 >> 3", False)
    state.move_into_tier(4, 1)
    assert state.describe() == "2 >> 3 = 4"
    with pytest.raises(RankingInputError, match="no tier 3"):
        state.move_into_tier(1, 2)
    with pytest.raises(RankingInputError, match="no answer 5"):
        state.unplace(5)


@st.composite
def drags(draw):
    count = draw(st.integers(2, 9))
    moves = draw(
        st.lists(
            st.tuples(st.sampled_from(["into", "between", "out", "key"]), st.integers(1, count), st.integers(0, 9)),
            max_size=25,
        )
    )
    return count, moves


@given(drags())
def test_any_drags_keep_a_valid_state_that_survives_a_draft(case):
    count, moves = case
    state = RankingInput(count)
    for kind, number, where in moves:
        try:
            if kind == "into":
                state.move_into_tier(number, where)
            elif kind == "between":
                state.move_to_new_tier(number, where)
            elif kind == "out":
                state.unplace(number)
            else:
                state.place(number)
        except RankingInputError:
            continue
        assert sorted(state.placed) == sorted(set(state.placed))
        assert all(state.tiers)
        assert len(state.stated_strengths) == max(len(state.tiers) - 1, 0)
        assert all(s is None for s in state.stated_strengths)  # a drag states no strength
    assert RankingInput.from_draft(count, state.to_draft()).to_draft() == state.to_draft()
