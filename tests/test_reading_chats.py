"""Reading a long chat from the keyboard: the prompt's border dragged and remembered, its height
following its text, PgUp/PgDn, earlier turns folded, and a word diff only where answers share words."""

import pytest
from helpers.projects import make_project
from PySide6.QtCore import QPoint, QSettings, Qt
from test_task_view import type_keys

from labeler.store import open_store
from labeler.ui.main_window import MainWindow
from labeler.ui.markdown_view import FOLD_KEEP, conversation_html
from labeler.ui.word_diff import MIN_COMMON_RUN, diff_html

LONG_REPLY = " ".join(f"Sentence {n} of a long reply, with enough words to wrap over the card." for n in range(60))


def chat(turns: int) -> list[dict[str, str]]:
    """A chat of `turns` messages, user first and last, each turn's text naming it."""
    return [
        {"role": "user" if n % 2 == 0 else "assistant", "content": f"turn {n + 1} " + "words " * 30}
        for n in range(turns)
    ]


@pytest.fixture
def chats(tmp_path):
    path = tmp_path / "chats.db"
    make_project(
        path, [(chat(13), [LONG_REPLY, LONG_REPLY.replace("long", "short")]), ("A short question?", ["yes", "no"])]
    )
    return path


def open_window(qtbot, path, size=(780, 580)):
    settings = QSettings(str(path.parent / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(open_store(path), "ann", settings)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.waitUntil(lambda: window.task_view.progress is not None)
    return window


def prompt_and_answers_heights(view) -> tuple[int, int]:
    prompt, below = view.splitter.sizes()
    return prompt, below


def test_a_folded_chat_keeps_its_last_turns_whole_and_the_earlier_ones_on_a_line_each():
    folded = conversation_html(chat(13), folded=True)
    assert "10 earlier turns in one line each" in folded
    assert folded.count("<table") == 13  # every turn has its gutter, folded or not
    for n in range(1, 11):  # folded: the start of the text, cut
        assert f"turn {n} words" in folded
        assert f"turn {n} " + "words " * 30 not in folded
    for n in range(11, 14):
        assert f"turn {n} " + "words " * 29 + "words" in folded  # whole
    whole = conversation_html(chat(13))
    assert "earlier turns" not in whole
    assert "turn 1 " + "words " * 29 + "words" in whole
    # A short chat has nothing worth folding.
    assert "earlier turns" not in conversation_html(chat(FOLD_KEEP + 1), folded=True)


def test_the_prompt_takes_the_height_its_text_needs_up_to_its_share(qtbot, chats):
    window = open_window(qtbot, chats)
    view = window.task_view
    prompt, below = prompt_and_answers_heights(view)
    share = prompt / (prompt + below)
    assert share == pytest.approx(0.45, abs=0.02)  # a long chat: its whole share, then it scrolls
    assert view.prompt_view.verticalScrollBar().maximum() > 0
    assert view.prompt_view.verticalScrollBar().value() == view.prompt_view.verticalScrollBar().maximum()
    type_keys(qtbot, window, "1 2 \n")
    prompt, below = prompt_and_answers_heights(view)
    assert view.prompt_view.toPlainText().strip() == "A short question?"
    assert prompt < 3 * view.prompt_view.fontMetrics().lineSpacing() + 20  # one line: the answers get the rest
    assert view.prompt_view.verticalScrollBar().maximum() == 0  # and it is whole


def test_short_answers_leave_their_room_to_a_long_chat(qtbot, tmp_path):
    path = tmp_path / "short.db"
    make_project(path, [(chat(13), ["Yes.", "No, I would rather not."])])
    window = open_window(qtbot, path)
    view = window.task_view
    prompt, below = prompt_and_answers_heights(view)
    assert prompt / (prompt + below) > 0.6  # more than its share: the answers need two lines
    for card in view.deck.cards():
        assert card.body.browser.verticalScrollBar().maximum() == 0  # and are whole
    assert view.deck.spare_height() <= 3 * view.fontMetrics().lineSpacing()  # an answer keeps three lines at least


def test_the_dragged_border_sets_the_share_and_is_remembered(qtbot, chats):
    window = open_window(qtbot, chats)
    view = window.task_view
    handle = view.splitter.handle(1)
    start = handle.rect().center()
    total = sum(view.splitter.sizes())
    qtbot.mousePress(handle, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(handle, start + QPoint(0, -total // 5))
    qtbot.mouseRelease(handle, Qt.MouseButton.LeftButton, pos=start + QPoint(0, -total // 5))
    dragged = view.splitter.share
    assert dragged == pytest.approx(0.25, abs=0.04)
    assert float(window.settings.value("prompt_share")) == dragged
    window.close()
    reopened = open_window(qtbot, chats)
    prompt, below = prompt_and_answers_heights(reopened.task_view)
    assert prompt / (prompt + below) == pytest.approx(dragged, abs=0.02)


def test_pgup_pgdn_scroll_the_prompt_and_shift_scrolls_every_answer(qtbot, chats):
    window = open_window(qtbot, chats)
    view = window.task_view
    prompt_bar = view.prompt_view.verticalScrollBar()
    bottom = prompt_bar.value()
    qtbot.keyClick(view, Qt.Key.Key_PageUp)
    assert prompt_bar.value() == bottom - prompt_bar.pageStep()
    qtbot.keyClick(view, Qt.Key.Key_PageDown)
    assert prompt_bar.value() == bottom
    answer_bars = [card.body.browser.verticalScrollBar() for card in view.deck.cards()]
    assert all(bar.maximum() > 0 and bar.value() == 0 for bar in answer_bars)
    qtbot.keyClick(view, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ShiftModifier)
    assert [bar.value() for bar in answer_bars] == [bar.pageStep() for bar in answer_bars]
    qtbot.keyClick(view, Qt.Key.Key_PageUp, Qt.KeyboardModifier.ShiftModifier)
    assert [bar.value() for bar in answer_bars] == [0, 0]
    assert view.input.describe() == ""  # the ranking is untouched


def test_t_unfolds_the_earlier_turns_and_a_new_prompt_starts_folded(qtbot, chats):
    window = open_window(qtbot, chats)
    view = window.task_view
    whole_first_turn = "turn 1 " + "words " * 29 + "words"
    assert whole_first_turn not in view.prompt_view.toPlainText()
    type_keys(qtbot, window, "T")
    assert whole_first_turn in view.prompt_view.toPlainText()
    type_keys(qtbot, window, "T")
    assert whole_first_turn not in view.prompt_view.toPlainText()
    view.prompt_view.anchorClicked.emit("unfold")  # the link over the folded turns does the same
    assert whole_first_turn in view.prompt_view.toPlainText()
    type_keys(qtbot, window, "1 2 \n")
    type_keys(qtbot, window, "T")
    assert window.statusBar().currentMessage() == "Only a chat of more than four turns folds."


def test_d_says_when_two_answers_share_nothing_to_highlight(qtbot, tmp_path):
    apart = diff_html(
        "You should talk to a lawyer about it before you do anything.",
        "I can't help with that, but it is a good idea to be careful.",
    )
    assert apart is None  # "to", "a", "about it" are shared by chance: nothing worth a diff
    shared = "The capital of France is Paris, a city of two million people."
    left, right = diff_html(f"Sure! {shared} It is lovely.", f"{shared} Its museums are famous.")
    assert left.count("#ffe066") == 2  # "Sure! " and "It is lovely."
    assert "Sure! </span>" in left
    assert "The capital of France is Paris" in left
    assert "capital" not in right.split("#ffe066")[-1]  # the shared run is not highlighted
    assert len(shared.split()) >= MIN_COMMON_RUN

    path = tmp_path / "apart.db"
    make_project(path, {"Help?": ["Talk to a lawyer first.", "I cannot help with that."]})
    window = open_window(qtbot, path)
    view = window.task_view
    type_keys(qtbot, window, "D")
    assert "share no run of 4 words" in window.statusBar().currentMessage()
    assert not view.diff_shown
    assert all("#ffe066" not in card.body.browser.toHtml() for card in view.deck.cards())
