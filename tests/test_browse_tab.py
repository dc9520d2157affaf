"""The Browse tab: the store's filters and judgement views alone, then the tab from the keyboard."""

import pytest
from helpers.projects import make_project
from PySide6.QtCore import Qt
from test_ui import browse, settings_in

from labeler.domain import Flag, Judgement, Ranking
from labeler.store import NewAnswer, open_store
from labeler.store.browsing import ANY_FLAG, PromptFilter, Status, judgements_of, matching_prompts, prompt_rows
from labeler.ui.main_window import MainWindow


@pytest.fixture
def reviewed(tmp_path):
    """Five prompts: ranked by ann (with a tie, strengths, a flag and a comment) and by bob; all bad;
    skipped; corrected; not judged (its answers by another model)."""
    path = tmp_path / "reviewed.db"
    make_project(
        path,
        [
            ("How do I boil an EGG?", [NewAnswer("Put it in water.", "m-a"), NewAnswer("Boil it.", "m-b"),
                                       NewAnswer("Microwave it.", "m-a")]),
            ("Tell me a joke", [NewAnswer("Knock knock.", "m-a"), NewAnswer("No.", "m-b")]),
            ("Write a poem", [NewAnswer("Roses are red.", "m-a"), NewAnswer("Violets.", "m-b")]),
            ("Say hi", [NewAnswer("Hi!", "m-a"), NewAnswer("Hello there.", "m-b")]),
            ("Summarise the news", [NewAnswer("The PYTHON release is out.", "m-c"), NewAnswer("Nothing.", "m-c")]),
        ],
    )  # fmt: skip
    with open_store(path) as store:
        (egg, joke, poem, hi, _news) = [(p, [a.id for a in store.prompt(p).answers]) for p in store.prompt_ids()]
        first, second, third = egg[1]
        store.record_judgement(
            egg[0],
            "ann",
            Judgement.ranked(
                Ranking.of([[second, first], third], strengths=[3]),
                flags={third: frozenset({Flag.HALLUCINATION})},
                likert=5,
                comment="close call",
            ),
            [third, first, second],
        )
        store.record_judgement(egg[0], "bob", Judgement.ranked(Ranking.of(egg[1])), egg[1])
        store.record_judgement(joke[0], "ann", Judgement.all_bad(), joke[1])
        store.record_judgement(poem[0], "bob", Judgement.skipped("not my language"), poem[1])
        wrong = store.record_judgement(hi[0], "ann", Judgement.ranked(Ranking.of(hi[1])), hi[1])
        store.record_judgement(hi[0], "ann", Judgement.ranked(Ranking.of(hi[1][::-1])), hi[1], supersedes=wrong.uuid)
        withdrawn = store.record_judgement(hi[0], "bob", Judgement.ranked(Ranking.of(hi[1])), hi[1])
        store.retract_judgement(withdrawn.uuid, "bob")
    return path


def ids_of(store, **wanted) -> list[str]:
    """The first words of the prompts a filter keeps."""
    return [store.prompt(p).content.split()[0] for p in matching_prompts(store, PromptFilter(**wanted))]


def test_each_filter_keeps_what_it_says_and_they_combine(reviewed):
    with open_store(reviewed) as store:
        assert ids_of(store) == ["How", "Tell", "Write", "Say", "Summarise"]
        assert ids_of(store, text="egg") == ["How"]  # the prompt's text, any case
        assert ids_of(store, text="python") == ["Summarise"]  # an answer's text
        assert ids_of(store, text="  ") == ids_of(store)
        assert ids_of(store, status=Status.NOT_JUDGED) == ["Summarise"]
        assert ids_of(store, status=Status.RANKED) == ["How", "Say"]
        assert ids_of(store, status=Status.ALL_BAD) == ["Tell"]
        assert ids_of(store, status=Status.SKIPPED) == ["Write"]
        assert ids_of(store, annotator="bob") == ["How", "Write"]  # bob's withdrawn judgement does not count
        assert ids_of(store, model="m-c") == ["Summarise"]
        assert ids_of(store, flag=ANY_FLAG) == ["How"]
        assert ids_of(store, flag=Flag.HALLUCINATION) == ["How"]
        assert ids_of(store, flag=Flag.HARMFUL) == []
        assert ids_of(store, annotator="ann", status=Status.RANKED, text="hi") == ["Say"]
        assert ids_of(store, text="'; DROP TABLE prompts; --") == []  # a value, never SQL
        assert len(ids_of(store)) == 5


def test_rows_count_the_current_judgements_of_each_prompt(reviewed):
    with open_store(reviewed) as store:
        egg, joke, poem, hi, news = prompt_rows(store, store.prompt_ids())
    assert (egg.answers, egg.ranked, egg.flagged, egg.status) == (3, 2, 1, "2 ranked")
    assert joke.status == "1 all bad"
    assert poem.status == "1 skipped"
    assert (hi.ranked, hi.status) == (1, "1 ranked")  # ann's correction counts once; bob's retracted one not
    assert (news.status, news.last_judged, news.title) == ("not judged", None, "Summarise the news")


def test_a_prompts_judgements_read_in_its_answers_numbers(reviewed):
    with open_store(reviewed) as store:
        egg, _joke, poem, hi, _news = store.prompt_ids()
        ann, bob = judgements_of(store, egg)
        assert (ann.annotator, ann.outcome, ann.ranking) == ("ann", "ranked", "1 = 2 >>> 3")
        assert (ann.flags, ann.likert, ann.comment) == ({3: ["hallucination"]}, 5, "close call")
        assert (bob.annotator, bob.ranking) == ("bob", "1 >> 2 >> 3")
        (skipped,) = judgements_of(store, poem)
        assert (skipped.outcome, skipped.skip_reason, skipped.ranking) == ("skipped", "not my language", "")
        (corrected,) = judgements_of(store, hi)
        assert corrected.ranking == "2 >> 1"


def add_round_2_to_the_egg_prompt(path) -> None:
    with open_store(path) as store:
        store.add_round("How do I boil an EGG?", [NewAnswer("Steam it.", "m-d"), NewAnswer("Poach it.", "m-d")])


def test_the_round_filter_keeps_that_rounds_prompts_and_narrows_the_others_to_it(reviewed):
    add_round_2_to_the_egg_prompt(reviewed)
    with open_store(reviewed) as store:
        assert ids_of(store, round=1) == ids_of(store)
        assert ids_of(store, round=2) == ["How"]
        assert ids_of(store, round=3) == []
        assert ids_of(store, round=2, status=Status.NOT_JUDGED) == ["How"]  # ranked in round 1 only
        assert ids_of(store, round=2, model="m-a") == []  # the carried answer is a round 1 answer
        assert ids_of(store, round=1, model="m-d") == []
        assert ids_of(store, round=2, text="steam") == ["How"]
        assert ids_of(store, round=1, text="steam") == []
        egg = store.prompt_ids()[0]
        task = store.task(egg)
        store.record_judgement(egg, "ann", Judgement.ranked(Ranking.of(list(task.answer_ids))), list(task.answer_ids))
        assert ids_of(store, round=2, annotator="ann", status=Status.RANKED) == ["How"]
        assert ids_of(store, round=2, annotator="bob") == []
        assert ids_of(store, round=2, flag=ANY_FLAG) == []  # ann's flag was in round 1
        assert prompt_rows(store, [egg])[0].round == 2
        assert [view.round for view in judgements_of(store, egg)] == [1, 1, 2]


def test_choosing_a_round_narrows_the_table(qtbot, reviewed):
    add_round_2_to_the_egg_prompt(reviewed)
    window = open_browse(qtbot, reviewed)
    tab = window.browse
    qtbot.waitUntil(lambda: tab.round_filter.count() == 3)  # any, 1, 2: read on a worker
    tab.round_filter.setCurrentIndex(tab.round_filter.findData(2))
    qtbot.waitUntil(lambda: tab.count_label.text() == "1 of 5 prompts")
    assert shown_titles(window) == ["How do I boil an EGG?"]
    model = tab.table_model
    assert model.headerData(2, Qt.Orientation.Horizontal) == "Round"
    assert model.data(model.index(0, 2)) == 2
    titles = [tab.answers_layout.itemAt(i).widget().title() for i in range(tab.answers_layout.count())]
    assert titles[-2:] == ["Answer 4 · round 2 · m-d", "Answer 5 · round 2 · m-d"]


def open_browse(qtbot, path, annotator="ann"):
    window = MainWindow(open_store(path), annotator, settings_in(path.parent))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.task_view.progress is not None)
    browse(window)
    return window


def shown_titles(window) -> list[str]:
    model = window.browse.table_model
    return [model.data(model.index(row, 1)) for row in range(model.rowCount())]


def test_typing_a_search_and_choosing_filters_narrow_the_table(qtbot, reviewed):
    window = open_browse(qtbot, reviewed)
    tab = window.browse
    assert tab.count_label.text() == "5 prompts"
    qtbot.keyClick(tab.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert tab.search.hasFocus()
    qtbot.keyClicks(tab.search, "EGG")
    qtbot.waitUntil(lambda: tab.count_label.text() == "1 of 5 prompts")
    assert shown_titles(window) == ["How do I boil an EGG?"]
    assert tab.prompt_view.toPlainText().strip() == "How do I boil an EGG?"
    tab.search.clear()
    qtbot.waitUntil(lambda: tab.count_label.text() == "5 prompts")
    qtbot.waitUntil(lambda: tab.annotator_filter.count() == 3)  # the choices are read on a worker
    tab.annotator_filter.setCurrentIndex(tab.annotator_filter.findData("bob"))
    qtbot.waitUntil(lambda: tab.count_label.text() == "2 of 5 prompts")
    tab.status_filter.setCurrentIndex(tab.status_filter.findText("Skipped"))
    qtbot.waitUntil(lambda: tab.count_label.text() == "1 of 5 prompts")
    assert shown_titles(window) == ["Write a poem"]
    tab.annotator_filter.setCurrentIndex(0)
    tab.status_filter.setCurrentIndex(0)
    tab.model_filter.setCurrentIndex(tab.model_filter.findData("m-c"))
    qtbot.waitUntil(lambda: tab.count_label.text() == "1 of 5 prompts")
    tab.flag_filter.setCurrentIndex(tab.flag_filter.findData(Flag.HALLUCINATION))
    qtbot.waitUntil(lambda: tab.count_label.text() == "0 of 5 prompts")
    assert tab.prompt_heading.text() == "No prompt matches these filters."


def test_the_chosen_prompt_shows_who_judged_it_and_how(qtbot, reviewed):
    window = open_browse(qtbot, reviewed)
    table = window.browse.judgements
    cells = [[table.item(row, column).text() for column in range(table.columnCount())] for row in range(2)]
    assert cells[0][:2] == ["ann", "1"]
    assert cells[0][3:] == ["ranked", "1 = 2 >>> 3", "3: hallucination", "5/7", "close call"]
    assert cells[1][0] == "bob"
    model = window.browse.table_model
    assert [model.data(model.index(0, column)) for column in (2, 3, 4, 5)] == [1, 3, "2 ranked", 1]


def test_enter_opens_a_prompt_in_the_label_tab_and_your_own_judgement_to_correct(qtbot, reviewed):
    window = open_browse(qtbot, reviewed, annotator="carol")
    tab = window.browse
    tab.table.setFocus()
    qtbot.keyClick(tab.table, Qt.Key.Key_Down)
    qtbot.keyClick(tab.table, Qt.Key.Key_Return)
    assert window.tabs.currentIndex() == 0
    assert window.task_view.prompt.content == "Tell me a joke"  # judged by ann, open to carol all the same
    assert window.task_view.correcting is None

    window.close()
    window = open_browse(qtbot, reviewed, annotator="ann")
    window.browse.table.setFocus()
    qtbot.keyClick(window.browse.table, Qt.Key.Key_Return)  # the first prompt: ann ranked it
    view = window.task_view
    assert view.prompt.content == "How do I boil an EGG?"
    assert view.correcting is not None
    assert view.heading.text().endswith("your judgement: Enter saves a correction")
    assert view.input.describe() != ""  # the ranking as saved, to change
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert "as a correction" in window.statusBar().currentMessage()
    browse(window)  # judgements saved meanwhile are read again
    cells = [window.browse.judgements.item(row, 0).text() for row in range(window.browse.judgements.rowCount())]
    assert cells == ["bob", "ann"]  # ann's correction is the newer


def test_a_double_click_opens_the_prompt_too(qtbot, reviewed):
    window = open_browse(qtbot, reviewed, annotator="carol")
    tab = window.browse
    index = tab.table_model.index(4, 1)
    rect = tab.table.visualRect(index)
    qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.tabs.currentIndex() == 0
    assert window.task_view.prompt.content == "Summarise the news"


def test_the_labelling_keys_rest_while_browsing(qtbot, reviewed):
    window = open_browse(qtbot, reviewed, annotator="carol")
    task = window.task_view
    shown = task.prompt.id
    window.browse.table.setFocus()
    for key in (Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_A):
        qtbot.keyClick(window.browse.table, key)
    assert task.input.describe() == ""  # no answer placed, nothing saved as all bad
    with open_store(reviewed) as store:
        assert "carol" not in [j.annotator for p in store.prompt_ids() for j in judgements_of(store, p)]
    window.tabs.setCurrentIndex(0)
    assert task.prompt.id == shown
    qtbot.keyClick(task, Qt.Key.Key_1)
    assert task.input.describe() == "1 >> 2"  # a pair: the other answer is placed last


def test_a_search_overtaken_by_a_newer_one_stops_midway(reviewed, monkeypatch):
    from labeler.store import browsing

    monkeypatch.setattr(browsing, "STOP_CHECK_STEPS", 1)  # asked at every step of this tiny project's search
    with open_store(reviewed) as store:
        assert matching_prompts(store, PromptFilter(text="egg"), stop=lambda: True) is None
        assert len(matching_prompts(store, PromptFilter(text="egg"), stop=lambda: False)) == 1
        assert len(matching_prompts(store, PromptFilter())) == 5  # the connection is not left stopping


def test_jobs_whose_starter_let_go_of_them_still_report(qtbot, reviewed):
    # A search typed on replaces its job with a newer one: the older, still running, must live on
    # until it reports (freeing it under the worker crashed the app).
    import gc

    from labeler.ui import jobs

    answers = []
    for n in range(20):
        job = jobs.StoreJob(reviewed, lambda store, n=n: (n, len(store.prompt_ids())))
        job.signals.finished.connect(answers.append)
        jobs.start(job)
        del job
        gc.collect()
    qtbot.waitUntil(lambda: len(answers) == 20)
    assert sorted(answers) == [(n, 5) for n in range(20)]
    qtbot.waitUntil(lambda: not jobs._running)  # and none is kept once it has reported


def test_the_annotator_filter_looks_up_each_prompt_by_index_not_the_annotators_every_judgement(reviewed):
    """Walking all of an annotator's judgements for each prompt took minutes on the 100,000-prompt bench project."""
    from labeler.store.browsing import _MATCHING

    with open_store(reviewed) as store:
        plan = " | ".join(
            row[-1]
            for row in store.conn.execute(
                "EXPLAIN QUERY PLAN " + _MATCHING,
                dict.fromkeys(("text", "status", "outcome", "model", "flag", "round")) | {"annotator": "bob"},
            )
        )
    assert "judgements_by_prompt_annotator_and_round (prompt_id=? AND annotator_id=?)" in plan
    assert "judgements_by_annotator" not in plan
