"""Labelling from the keyboard in the real window: rank, submit, drafts, undo, the queue."""

import json

import pytest
from helpers.projects import make_project, numbered_prompts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QPoint, QSettings, Qt

from labeler.domain import Judgement, Ranking
from labeler.store import DEFAULT_BUSY_TIMEOUT_S, NewAnswer, create_project, open_store
from labeler.store.queue import display_order, next_prompt
from labeler.ui.main_window import MainWindow


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "p.db"
    make_project(path, numbered_prompts(3, 4), guidelines="Rank by helpfulness.")
    return path


def open_window(qtbot, path, annotator="ann", busy_timeout_s=DEFAULT_BUSY_TIMEOUT_S):
    settings = QSettings(str(path.parent / "settings.ini"), QSettings.Format.IniFormat)  # never the user's
    window = MainWindow(open_store(path, busy_timeout_s=busy_timeout_s), annotator, settings)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.waitUntil(lambda: window.task_view.progress is not None)  # counted on a worker thread
    return window


def type_keys(qtbot, window, keys: str) -> None:
    special = {"<": Qt.Key.Key_Backspace, "\n": Qt.Key.Key_Return}
    for key in keys:
        if key == " ":
            continue
        if key in special:
            qtbot.keyClick(window.task_view, special[key])
        elif key == "^":
            qtbot.keyClick(window.task_view, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)
        else:
            qtbot.keyClick(window.task_view, key)


def test_ranking_from_the_keyboard_saves_the_judgement_and_moves_on(qtbot, project):
    window = open_window(qtbot, project)
    view = window.task_view
    first = view.prompt.id
    assert view.prompt_view.toPlainText().strip() == "prompt 0"
    type_keys(qtbot, window, "3 = 1 4 ^ 2")
    assert view.strip.text().startswith("Ranking: 3 = 1 >>> 4 >> 2")
    assert [view.deck.cards()[i].badge.text() for i in range(4)] == ["tied 1st", "3rd", "tied 1st", "2nd"]
    type_keys(qtbot, window, "\n")
    assert view.prompt.id != first
    store = window.store
    (uuid,) = [r[0] for r in store.conn.execute("SELECT uuid FROM judgements")]
    row = store.judgement_row(uuid)
    order = display_order([a.id for a in store.prompt(first).answers], "ann", first)
    assert row["display_order"] == order
    assert row["tiers"] == [[order[2], order[0]], [order[3]], [order[1]]]
    # ^ (Shift+Up) stated the first step; the second was never touched: the default, not stated.
    assert (row["strengths"], row["stated_strengths"]) == ([3, 2], [3, None])
    assert row["guideline_version"] == 1
    assert row["seconds_spent"] >= 0
    assert store.draft("ann", first) is None
    assert window.progress_bar.value() == 1


def test_an_incomplete_ranking_is_not_submitted(qtbot, project):
    window = open_window(qtbot, project)
    type_keys(qtbot, window, "1 2 \n")
    assert window.store.stats().judgements == 0
    assert "still to place" in window.statusBar().currentMessage()


def test_a_ranking_in_progress_survives_closing_the_window(qtbot, project):
    window = open_window(qtbot, project)
    type_keys(qtbot, window, "2 = 4 <")
    prompt_id = window.task_view.prompt.id
    window.close()
    reopened = open_window(qtbot, project)
    assert reopened.task_view.prompt.id == prompt_id
    assert reopened.task_view.input.describe() == "2 ="


def test_undo_withdraws_the_last_submission_and_brings_it_back(qtbot, project):
    window = open_window(qtbot, project)
    first = window.task_view.prompt.id
    type_keys(qtbot, window, "1 2 3 4 \n")
    qtbot.keyClick(window.task_view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    view = window.task_view
    assert view.prompt.id == first
    assert view.input.describe() == "1 >> 2 >> 3 >> 4"
    stats = window.store.stats()
    assert (stats.judgements, stats.judgement_records) == (0, 2)
    type_keys(qtbot, window, "< < 4 3 \n")
    assert window.store.stats().judgements == 1


def test_an_undo_that_cannot_be_written_can_be_tried_again(qtbot, project):
    import sqlite3

    window = open_window(qtbot, project, busy_timeout_s=0.05)
    view = window.task_view
    first = view.prompt.id
    type_keys(qtbot, window, "1 2 3 4 \n")
    blocker = sqlite3.connect(project, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "Not withdrawn" in window.statusBar().currentMessage()
    assert view.prompt.id != first  # still on the next prompt: nothing was withdrawn
    blocker.execute("COMMIT")
    blocker.close()
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert view.prompt.id == first
    assert window.store.stats().judgements == 0


def test_all_done_when_every_prompt_is_judged(qtbot, project):
    window = open_window(qtbot, project)
    for _ in range(3):
        type_keys(qtbot, window, "1 2 3 4 \n")
    assert window.task_view.prompt is None
    assert window.task_view.heading.text().startswith("All done")
    type_keys(qtbot, window, "1")  # keys do nothing now, and nothing breaks
    assert window.store.stats().judgements == 3


def shown_texts(view) -> list[str]:
    return [card.body.text for card in view.deck.cards()]


def texts_in_display_order(store, prompt_id, annotator="ann") -> list[str]:
    answers = {a.id: a.text for a in store.prompt(prompt_id).answers}
    return [answers[a] for a in display_order(list(answers), annotator, prompt_id)]


@pytest.fixture
def uneven_project(tmp_path):
    """Prompts of different heights with different numbers of answers."""
    path = tmp_path / "uneven.db"
    make_project(
        path,
        {
            "short": [f"answer {a} to the short one" for a in range(4)],
            "\n\n".join(f"line {n}" for n in range(8)): ["yes", "no"],
            "a chat": [f"**option** {a}\n\n```python\nx = {a}\n```" for a in range(5)],
        },
    )
    return path


def test_the_next_task_is_laid_out_behind_while_one_reads_and_enter_swaps_it_in(qtbot, uneven_project):
    window = open_window(qtbot, uneven_project)
    view = window.task_view
    window.resize(1100, 760)
    for _ in range(2):
        qtbot.waitUntil(lambda: view.prepared is not None)  # PREPARE_AFTER_MS after a task is shown
        behind = view.cards_box.behind
        upcoming = next_prompt(window.store, "ann", after=view.prompt.id)
        assert [card.body.text for card in behind.cards()] == texts_in_display_order(window.store, upcoming)
        assert behind.isVisible()  # so laid out,
        assert behind.visibleRegion().isEmpty()  # but clipped: never painted
        prepared_size = behind.size()
        type_keys(qtbot, window, " ".join(str(n) for n in range(1, len(view.order) + 1)) + "\n")
        assert view.prompt.id == upcoming
        assert view.deck is behind  # swapped in, not filled again
        assert shown_texts(view) == texts_in_display_order(window.store, upcoming)
        # Laid out at the size it has under the new, taller or shorter, prompt: a swap moves widgets only.
        assert view.deck.geometry() == view.cards_box.rect()
        assert prepared_size == view.cards_box.size()
        assert not view.deck.visibleRegion().isEmpty()


def test_a_task_taken_by_someone_else_meanwhile_is_not_shown_from_the_deck_behind(qtbot, uneven_project):
    window = open_window(qtbot, uneven_project)
    view = window.task_view
    qtbot.waitUntil(lambda: view.prepared is not None)
    upcoming = next_prompt(window.store, "ann", after=view.prompt.id)
    with open_store(uneven_project) as other:  # another annotator's window, one judge wanted
        answers = [a.id for a in other.prompt(upcoming).answers]
        other.record_judgement(upcoming, "bob", Judgement.ranked(Ranking.of(answers)), answers)
    type_keys(qtbot, window, "1 2 3 4 \n")
    assert view.prompt.id not in (upcoming, None)
    assert shown_texts(view) == texts_in_display_order(window.store, view.prompt.id)
    assert view.deck.geometry() == view.cards_box.rect()


def test_the_queue_is_blind_and_honours_annotators_per_prompt(project):
    with open_store(project) as store:
        first = next_prompt(store, "ann")
        answers = [a.id for a in store.prompt(first).answers]
        store.record_judgement(first, "bob", Judgement.ranked(Ranking.of(answers)), answers)
        assert next_prompt(store, "ann") != first  # one judge per prompt by default
        store.set_setting("annotators_per_prompt", 2)
        assert next_prompt(store, "ann") == first  # now it needs a second judge
        assert next_prompt(store, "bob") != first  # but never the same one twice
        # Shuffled per annotator, the same each time.
        assert display_order(answers, "ann", first) == display_order(answers, "ann", first)
        assert sorted(display_order(answers, "ann", first)) == sorted(answers)
        orders = {tuple(display_order(answers, name, first)) for name in ("ann", "bob", "cy", "dee", "eve")}
        assert len(orders) > 1


def test_all_bad_skip_and_details_from_the_keyboard(qtbot, project, monkeypatch):
    monkeypatch.setattr("labeler.ui.dialogs.ask_skip_reason", lambda parent: "needs a maths expert")
    monkeypatch.setattr("labeler.ui.dialogs.choose_flags", lambda parent, number, current: {"hallucination"})
    monkeypatch.setattr("labeler.ui.dialogs.ask_comment", lambda parent, current: "close call")
    window = open_window(qtbot, project)
    store, view = window.store, window.task_view
    first = view.prompt.id
    type_keys(qtbot, window, "F 2 L 6 C")  # flag answer 2, rate 6/7, comment
    assert "quality 6/7 · flags on 2 · comment" in view.strip.text()
    type_keys(qtbot, window, "A")
    second = view.prompt.id
    type_keys(qtbot, window, "S")
    outcomes = dict(store.conn.execute("SELECT prompt_id, outcome FROM judgements"))
    assert outcomes == {first: "all_bad", second: "skipped"}
    bad = store.conn.execute("SELECT uuid FROM judgements WHERE outcome = 'all_bad'").fetchone()[0]
    row = store.judgement_row(bad)
    assert row["likert"] == 6
    assert row["comment"] == "close call"
    assert row["flags"] == {str(row["display_order"][1]): ["hallucination"]}
    skipped = store.conn.execute("SELECT skip_reason FROM judgements WHERE outcome = 'skipped'").fetchone()[0]
    assert skipped == "needs a maths expert"
    assert store.stats().pairs == 0


def test_details_survive_in_the_draft_and_a_bad_rating_is_refused(qtbot, project, monkeypatch):
    window = open_window(qtbot, project)
    type_keys(qtbot, window, "L 9")
    assert "1 to 7" in window.statusBar().currentMessage()
    type_keys(qtbot, window, "L 3 2 1")
    window.close()
    reopened = open_window(qtbot, project)
    assert reopened.task_view.details.likert == 3
    assert reopened.task_view.input.describe() == "2 >> 1"


def test_rewrite_starts_from_the_best_answer_and_is_kept_for_sft(qtbot, project, monkeypatch):
    seen = []

    def rewrite(parent, text):
        seen.append(text)
        return text + " And a better ending."

    monkeypatch.setattr("labeler.ui.dialogs.ask_rewrite", rewrite)
    window = open_window(qtbot, project)
    view = window.task_view
    type_keys(qtbot, window, "3 R")
    best = view.prompt.answers[[a.id for a in view.prompt.answers].index(view.order[2])]
    assert seen == [best.text]
    text, based_on = window.store.conn.execute("SELECT text, based_on_answer_id FROM demonstrations").fetchone()
    assert (text, based_on) == (best.text + " And a better ending.", best.id)


def test_the_keyboard_help_is_generated_from_the_action_table():
    from labeler.ui.actions import LABELLING_COMMANDS, keyboard_help_rows

    text = "\n".join(tip for _, tip in keyboard_help_rows())
    for command in LABELLING_COMMANDS:
        if not command.name.startswith("place_"):
            assert command.tip in text


def test_time_spent_stops_while_the_window_is_inactive(qtbot, project):
    window = open_window(qtbot, project)
    view = window.task_view
    now = [100.0]
    view.stopwatch.clock = lambda: now[0]
    view.stopwatch.restart()
    now[0] += 12.0
    view.pause()
    assert view.seconds_spent() == 12.0
    now[0] += 300.0  # away
    assert view.seconds_spent() == 12.0  # nothing counted while away
    view.resume()
    now[0] += 3.5
    assert view.seconds_spent() == 15.5
    type_keys(qtbot, window, "1 2 3 4 \n")
    spent = window.store.conn.execute("SELECT seconds_spent FROM judgements").fetchone()[0]
    assert spent == 15.5
    assert window.today_label.text().startswith("Today: 1")


def test_left_and_right_step_through_ones_own_judgements_to_correct_them(qtbot, project):
    window = open_window(qtbot, project)
    view, store = window.task_view, window.store
    first = view.prompt.id
    type_keys(qtbot, window, "1 2 3 4 \n")
    second = view.prompt.id
    type_keys(qtbot, window, "4 3 ^ 2 1 \n")
    third = view.prompt.id
    qtbot.keyClick(view, Qt.Key.Key_Left)
    assert (view.prompt.id, view.input.describe()) == (second, "4 >>> 3 >> 2 >> 1")
    assert view.input.stated_strengths == [3, None, None]  # restored as stated, ready to be corrected
    qtbot.keyClick(view, Qt.Key.Key_Left)
    assert view.prompt.id == first
    qtbot.keyClick(view, Qt.Key.Key_Left)
    assert view.prompt.id == first  # nothing before the first
    assert "first judgement" in window.statusBar().currentMessage()
    type_keys(qtbot, window, "< < < < 2 1 3 4 \n")  # a correction of the first
    stats = store.stats()
    assert (stats.judgements, stats.judgement_records) == (2, 3)
    corrected = store.conn.execute("SELECT uuid, supersedes FROM judgements ORDER BY id DESC LIMIT 1").fetchone()
    assert corrected[1] is not None
    assert store.judgement_row(corrected[0])["prompt_id"] == first
    assert view.prompt.id == third  # back to new work after the correction
    qtbot.keyClick(view, Qt.Key.Key_Left)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.prompt.id == third


def test_g_shows_the_guidelines_with_their_version(qtbot, project):
    window = open_window(qtbot, project)
    assert window.guidelines_dock.isHidden()
    qtbot.keyClick(window.task_view, "G")
    assert not window.guidelines_dock.isHidden()
    assert window.guidelines_dock.windowTitle() == "Guidelines (version 1)"
    assert "Rank by helpfulness." in window.guidelines_dock.widget().browser.toPlainText()


def test_a_locked_file_keeps_the_ranking_and_saves_it_exactly_once_when_free(qtbot, project, monkeypatch):
    import sqlite3

    monkeypatch.setattr("labeler.ui.task_view.RETRY_SAVE_MS", 100)
    window = open_window(qtbot, project, busy_timeout_s=0.05)
    view = window.task_view
    view.retry_timer.setInterval(100)
    first = view.prompt.id
    type_keys(qtbot, window, "2 1 4 3")
    blocker = sqlite3.connect(project, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    type_keys(qtbot, window, "\n")
    assert not view.banner.isHidden()
    assert "Not saved yet" in view.banner.text()
    assert "locked" in view.banner.text()
    assert view.prompt.id == first  # still here, ranking kept
    type_keys(qtbot, window, "<")  # and not changed while the save waits
    assert view.input.describe() == "2 >> 1 >> 4 >> 3"
    retries = []
    view.retry_timer.timeout.connect(lambda: retries.append(view.banner.isHidden()))
    qtbot.waitUntil(lambda: len(retries) >= 3, timeout=5000)  # three retries while the lock is held
    assert not any(retries)  # each of them failed: the banner stayed
    blocker.execute("COMMIT")
    blocker.close()
    qtbot.waitUntil(lambda: view.banner.isHidden(), timeout=5000)
    assert view.prompt.id != first
    assert window.store.stats().judgement_records == 1


def test_a_draft_the_file_refuses_is_shown_in_the_banner_until_one_is_saved(qtbot, project):
    import sqlite3

    window = open_window(qtbot, project, busy_timeout_s=0.05)
    view = window.task_view
    blocker = sqlite3.connect(project, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    type_keys(qtbot, window, "2")
    assert "not saved yet" in view.banner.text()
    assert not view.banner.isHidden()
    blocker.execute("COMMIT")
    blocker.close()
    type_keys(qtbot, window, "1")
    assert view.banner.isHidden()
    assert window.store.draft("ann", view.prompt.id)["input"]["tiers"] == [[2], [1]]


def test_d_shows_a_pair_as_a_word_diff(qtbot, tmp_path):
    from labeler.ui.word_diff import diff_html

    left, right = diff_html("The cat sat <b>on</b> the mat.", "The cat lay <b>on</b> the mat.")
    assert '<span style="background-color: #ffe066; color: #000000;">sat </span>' in left
    assert '<span style="background-color: #ffe066; color: #000000;">lay </span>' in right
    assert "&lt;b&gt;" in left  # the answers' own markup is text

    path = tmp_path / "pair.db"
    make_project(path, {"Pick one": ["Paris is the capital.", "Lyon is the capital."]})
    window = open_window(qtbot, path)
    view = window.task_view
    type_keys(qtbot, window, "D")
    texts = [view.deck.cards()[i].body.browser.toHtml() for i in range(2)]
    assert all("#ffe066" in text for text in texts)
    type_keys(qtbot, window, "D")
    assert "#ffe066" not in view.deck.cards()[0].body.browser.toHtml()
    type_keys(qtbot, window, "2 1 \n")
    assert window.store.stats().pairs == 1


def test_an_empty_answer_is_a_visible_card_that_is_ranked_like_any_other(qtbot, tmp_path):
    from PySide6.QtGui import QPalette

    path = tmp_path / "empty.db"
    [(first, (empty_id, _)), _] = make_project(path, {"List some swear words.": ["", "No."], "Next one": ["yes", "no"]})
    window = open_window(qtbot, path)
    view = window.task_view
    assert view.prompt.id == first
    (empty,) = [card for card in view.deck.cards() if card.body.text == ""]  # the answer's text stays ""
    (other,) = [card for card in view.deck.cards() if card is not empty]
    assert empty.empty_note.isVisible()
    assert not empty.body.isVisible()
    assert empty.empty_note.text() == "(empty answer)"
    assert empty.empty_note.font().italic()  # styled as a placeholder, not as the answer's text
    text_colour = other.palette().color(QPalette.ColorRole.Text)
    assert empty.empty_note.palette().color(QPalette.ColorRole.WindowText) != text_colour
    assert empty.empty_note.height() > 0
    assert other.body.isVisible()
    assert not other.empty_note.isVisible()

    type_keys(qtbot, window, f"{empty.number} {other.number} \n")
    (row,) = [window.store.judgement_row(uuid) for (uuid,) in window.store.conn.execute("SELECT uuid FROM judgements")]
    assert row["tiers"][0] == [empty_id]
    # The cards are reused: the next task's answers have text, and no card says "(empty answer)".
    assert view.prompt.id != first
    assert all(card.body.isVisible() and not card.empty_note.isVisible() for card in view.deck.cards())


# -- the ranking strip: answers dragged with the mouse ----------------------------------------------


def spot(strip, kind, index):
    """Where on the strip a chip ("chip", its number), tier, gap or the unplaced answers ("out") are."""
    return strip.spot(kind, index).rect.center()


def drop(strip, number, at) -> None:
    """What a drag does when it reaches the strip: enter, move over `at`, drop there."""
    from PySide6.QtCore import QMimeData, QPointF
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    from labeler.ui.ranking_strip import MIME_TYPE

    mime = QMimeData()
    mime.setData(MIME_TYPE, str(number).encode())
    point = QPointF(at)
    move, no_buttons, no_keys = Qt.DropAction.MoveAction, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    QApplication.sendEvent(strip, QDragEnterEvent(at, move, mime, no_buttons, no_keys))
    hover = QDragMoveEvent(at, move, mime, no_buttons, no_keys)
    QApplication.sendEvent(strip, hover)
    assert hover.isAccepted()
    assert strip.hovered is strip.zone_at(at)  # the place it would land is shown
    QApplication.sendEvent(strip, QDropEvent(point, move, mime, no_buttons, no_keys))
    assert strip.hovered is None


def test_answers_dragged_in_the_strip_tie_move_and_leave_the_ranking(qtbot, project):
    window = open_window(qtbot, project)
    view = window.task_view
    prompt_id = view.prompt.id
    type_keys(qtbot, window, "3 1 4")
    assert view.strip.spot("chip", 2).tier == 3  # the one left, placed last by itself
    drop(view.strip, 2, spot(view.strip, "chip", 3))  # onto answer 3: tied with it
    assert view.input.describe() == "3 = 2 >> 1 >> 4"
    assert view.deck.cards()[1].badge.text() == "tied 1st"
    drop(view.strip, 4, spot(view.strip, "gap", 0))  # into the gap above the best: first alone
    assert view.input.describe() == "4 >> 3 = 2 >> 1"
    drop(view.strip, 1, spot(view.strip, "out", 0))  # out of the ranking
    assert view.input.describe() == "4 >> 3 = 2"
    assert window.store.draft("ann", prompt_id)["input"]["tiers"] == [[4], [3, 2]]  # every drag is a draft
    drop(view.strip, 1, spot(view.strip, "gap", 1))  # between 4 and the tie
    type_keys(qtbot, window, "\n")
    row = window.store.conn.execute("SELECT tiers, display_order FROM judgements").fetchone()
    order = json.loads(row[1])
    assert json.loads(row[0]) == [[order[3]], [order[0]], [order[2], order[1]]]


def test_the_strip_shows_tiers_strengths_and_unplaced_answers(qtbot, project):
    window = open_window(qtbot, project)
    strip = window.task_view.strip
    type_keys(qtbot, window, "3 = 1 4")  # 2, the one left, is placed last by itself
    words = [s.text for s in strip.spots if s.kind in ("text", "gap", "chip") and s.text]
    assert words == ["Best", "3", "=", "1", "≫", "4", "≫", "2", "worst", "All placed"]
    assert [strip.spot("chip", n).tier for n in (3, 1, 4, 2)] == [0, 0, 1, 2]
    assert strip.spot("gap", 1).text == "≫"
    assert "better than" in strip.spot("gap", 1).tip
    type_keys(qtbot, window, "^")  # the step into 4, the answer last typed
    assert strip.spot("gap", 1).text == "⋙"
    assert strip.zone_at(spot(strip, "chip", 1)).kind == "tier"
    image = strip.grab().toImage()  # painted: answer 3's chip in the first tier's colour
    centre = strip.spot("chip", 3).rect.topLeft() + QPoint(2, strip.spot("chip", 3).rect.height() // 2)
    assert image.pixelColor(centre * image.devicePixelRatio()).name() == "#1e7b34"
    type_keys(qtbot, window, "<")  # 4 taken back, and with it the answer it had left to place last
    words = [s.text for s in strip.spots if s.kind in ("text", "gap", "chip") and s.text]
    assert words == ["Best", "3", "=", "1", "worst", "Not placed:", "2", "4"]
    assert strip.zone_at(spot(strip, "chip", 2)).kind == "out"


def test_a_chip_pressed_and_moved_starts_a_drag_carrying_its_number(qtbot, project, monkeypatch):
    # The offscreen platform has no drag and drop (QDrag.exec returns at once), so the drag's own
    # loop is replaced by a drop where the mouse would be let go; under X a real mouse drag is
    # checked by tools/screenshots.py.
    from labeler.ui import ranking_strip

    window = open_window(qtbot, project)
    view = window.task_view
    type_keys(qtbot, window, "3 1")
    carried = []

    def exec_(drag, *_actions):
        carried.append(bytes(drag.mimeData().data(ranking_strip.MIME_TYPE)).decode())
        drop(view.strip, int(carried[-1]), spot(view.strip, "chip", 1))
        return Qt.DropAction.MoveAction

    monkeypatch.setattr(ranking_strip.QDrag, "exec", exec_)
    start = spot(view.strip, "chip", 4)
    qtbot.mousePress(view.strip, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view.strip, start + QPoint(2, 0))  # less than the drag distance
    assert carried == []
    qtbot.mouseMove(view.strip, start + QPoint(30, 0))
    assert carried == ["4"]
    assert view.input.describe() == "3 >> 1 = 4"


def test_progress_is_kept_by_the_window_without_counting_and_matches_a_recount(qtbot, project, monkeypatch):
    from labeler.ui import progress as progress_module
    from labeler.ui.progress import Progress

    monkeypatch.setattr("labeler.ui.dialogs.ask_skip_reason", lambda parent: "not my field")
    window = open_window(qtbot, project)
    view = window.task_view
    assert (view.progress.done, view.progress.total, view.progress.today) == (0, 3, 0)
    counts = []
    real_progress = progress_module.progress
    monkeypatch.setattr(progress_module, "progress", lambda *a: counts.append(a) or real_progress(*a))

    type_keys(qtbot, window, "1 2 3 4 \n")  # ranked
    type_keys(qtbot, window, "A")  # all bad
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # withdrawn
    assert view.progress.done == 1
    type_keys(qtbot, window, "S")  # skipped instead
    qtbot.keyClick(view, Qt.Key.Key_Left)
    type_keys(qtbot, window, "2 1 3 4 \n")  # a correction of the skip: still one prompt
    assert counts == []  # no counting query after a save or an undo
    kept = (view.progress.done, view.progress.total, view.progress.today)
    recounted = Progress.count(window.store, "ann")
    assert kept == (recounted.done, recounted.total, recounted.today) == (2, 3, 4)
    assert window.progress_bar.value() == 2
    assert window.today_label.text().startswith("Today: 4 · ")  # with a pace


def test_progress_starts_a_new_day_at_midnight():
    from datetime import datetime, timedelta

    from labeler.ui.progress import Progress

    evening = datetime(2026, 11, 29, 23, 50).astimezone()
    kept = Progress(done=5, total=10, today=5, first_today=evening - timedelta(hours=1), day=evening.date())
    assert kept.pace(evening) == pytest.approx(5.0)
    kept.saved(correction=False, now=evening + timedelta(minutes=20))  # after midnight
    assert (kept.done, kept.today, kept.pace(evening + timedelta(minutes=20))) == (6, 1, None)
    kept.saved(correction=True, now=evening + timedelta(minutes=50))
    assert (kept.done, kept.today) == (6, 2)
    assert kept.pace(evening + timedelta(minutes=50)) == pytest.approx(4.0)  # 2 in the 30 minutes since


def exact_next_prompt(store, annotator, after):
    """The queue's rule as one plain query (what next_prompt must agree with)."""
    wanted = int(store.setting("annotators_per_prompt", 1))
    for start in dict.fromkeys([after, 0]):
        row = store.conn.execute(
            "SELECT p.id FROM prompts p WHERE p.id > ? "
            "AND (SELECT COUNT(*) FROM answers a WHERE a.prompt_id = p.id) BETWEEN 2 AND 9 "
            "AND NOT EXISTS (SELECT 1 FROM current_judgements j JOIN annotators who ON who.id = j.annotator_id "
            "  WHERE j.prompt_id = p.id AND who.name = ?) "
            "AND (SELECT COUNT(DISTINCT j.annotator_id) FROM current_judgements j WHERE j.prompt_id = p.id) < ? "
            "ORDER BY p.id LIMIT 1",
            [start, annotator, wanted],
        ).fetchone()
        if row:
            return row[0]
    return None


@st.composite
def queue_histories(draw):
    prompts = draw(st.lists(st.integers(1, 10), min_size=1, max_size=8))  # answers per prompt
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["judge", "judge", "skip", "retract", "correct", "correct by another"]),
                st.sampled_from(["ann", "bob", "cy"]),
                st.integers(0, len(prompts) - 1),
            ),
            max_size=14,
        )
    )
    return prompts, steps, draw(st.integers(1, 3)), draw(st.integers(0, len(prompts)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(queue_histories())
def test_the_fast_queue_agrees_with_the_rule_whatever_was_withdrawn_or_corrected(tmp_path_factory, history):
    from labeler.store.queue import resume_point

    answer_counts, steps, wanted, after = history
    with create_project(tmp_path_factory.mktemp("queue") / "q.db", "", annotators_per_prompt=wanted) as store:
        prompts = [
            store.add_prompt(f"p{i}", [NewAnswer(f"a{n}") for n in range(k)]) for i, k in enumerate(answer_counts)
        ]
        saved = []  # (uuid, prompt index)
        for action, who, index in steps:
            prompt_id, answers = prompts[index]
            if action in ("judge", "skip") and 2 <= len(answers) <= 9:
                made = Judgement.ranked(Ranking.of(answers)) if action == "judge" else Judgement.skipped("no")
                saved.append((store.record_judgement(prompt_id, who, made, answers).uuid, index))
            elif action in ("retract", "correct", "correct by another") and saved:
                earlier, at = saved.pop(0)
                prompt_id, answers = prompts[at]
                if action == "retract":
                    store.retract_judgement(earlier, who)
                else:
                    made = Judgement.ranked(Ranking.of(answers[::-1]))
                    saved.append((store.record_judgement(prompt_id, who, made, answers, supersedes=earlier).uuid, at))
        for who in ("ann", "bob", "cy", "dee"):
            start = prompts[after - 1][0] if after else 0
            assert next_prompt(store, who, after=start) == exact_next_prompt(store, who, start), (who, start)
            assert next_prompt(store, who, after=resume_point(store, who)) == exact_next_prompt(
                store, who, resume_point(store, who)
            )


def test_saves_made_while_the_progress_is_counted_are_counted_once(qtbot, project, monkeypatch):
    import threading

    from PySide6.QtCore import QThreadPool

    from labeler.ui.progress import Progress

    window = open_window(qtbot, project)
    view = window.task_view
    gate = threading.Event()
    real = Progress.count_with_mark.__func__

    def held(cls, store, annotator, now=None):
        gate.wait(10)
        return real(cls, store, annotator, now)

    monkeypatch.setattr(Progress, "count_with_mark", classmethod(held))
    view.recount()
    type_keys(qtbot, window, "1 2 3 4 \n")  # saved before the count reads the file: in its snapshot
    assert view.progress is None
    gate.set()
    qtbot.waitUntil(lambda: view.progress is not None)
    assert view.progress.done == 1

    view.recount()
    QThreadPool.globalInstance().waitForDone()  # counted, but not yet delivered to the window
    type_keys(qtbot, window, "4 3 2 1 \n")  # saved after the count's snapshot: added to it
    assert view.progress is None
    assert len(view.unsynced) == 1
    qtbot.waitUntil(lambda: view.progress is not None)
    assert (view.progress.done, view.progress.today) == (2, 2)
    assert window.progress_bar.value() == 2
