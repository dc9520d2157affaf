"""The Browse tab, where a lead reviews a project: search the prompts' and answers' text, narrow by
status, annotator, model and flag, and read a prompt with its answers and every current judgement
(who, when, ranking, flags, quality, comment). Enter or a double-click opens the prompt in the Label
tab (your own judgement of it, if you made one, ready to correct).

A filter runs on a worker thread (on the 100,000-prompt bench project a text search reads every
prompt and answer: about 0.25 s) and typing waits for a pause; the table reads only the rows it
shows (prompt_table.py). Filled the first time it is shown after a project is opened or changed.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from labeler.domain import Flag
from labeler.store import Prompt, Store, browsing
from labeler.store.browsing import ANY_FLAG, JudgementView, PromptFilter, Status
from labeler.ui import jobs
from labeler.ui.answer_cards import EmptyAnswerNote, is_empty
from labeler.ui.markdown_view import MarkdownView, PromptView
from labeler.ui.prompt_table import PromptTableModel
from labeler.wording import counted

TYPING_PAUSE_MS = 250  # a search runs once typing pauses this long, not at every key
JUDGEMENT_COLUMNS = ("Annotator", "Round", "Saved", "Outcome", "Ranking", "Flags", "Quality", "Comment")


class BrowseTab(QWidget):
    open_requested = Signal(int)  # a prompt id, to label or correct in the Label tab

    def __init__(self, store: Store):
        super().__init__()
        self.store = store
        self.filled = False  # see the module docstring
        self.choices_read = False
        self.total: int | None = None  # prompts in the project, read with the filters' choices
        self.search_generation = 0
        self.searching = False  # a filter's answer is awaited from the worker
        self.search_job: jobs.StoreJob | None = None
        self.choices_job: jobs.StoreJob | None = None
        self.shown_prompt: int | None = None

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search prompts and answers (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.round_filter = _choices("Any round", [])
        self.status_filter = _choices("Any status", [(status.value.capitalize(), status) for status in Status])
        self.annotator_filter = _choices("Any annotator", [])
        self.model_filter = _choices("Any model", [])
        self.flag_filter = _choices(
            "Flagged or not",
            [("Flagged (any flag)", ANY_FLAG), *((flag.value.replace("_", " "), flag) for flag in Flag)],
        )
        self.count_label = QLabel()
        filters = QHBoxLayout()
        filters.addWidget(self.search, stretch=2)
        for combo in self.filters():
            filters.addWidget(combo, stretch=1)
        filters.addWidget(self.count_label)

        self.table_model = PromptTableModel(store, self)
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        rows = self.table.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no row measured
        rows.setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        # The text takes what the other columns leave: each is as wide as what it holds.
        for column, widest in ((0, "demo-000000"), (2, "Round"), (3, "Answers"), (4, "2 ranked · 1 skipped"),
                               (5, "Flagged"), (6, "2026-12-07 18:41")):  # fmt: skip
            header.resizeSection(column, self.fontMetrics().horizontalAdvance(widest) + 20)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        # Qt's "open this item": Enter, or a double-click (a single click where the desktop says so).
        self.table.activated.connect(lambda index: self._open(index.row()))

        self.prompt_heading = QLabel()
        self.prompt_heading.setTextFormat(Qt.TextFormat.PlainText)
        self.prompt_view = PromptView(fold_chats=False)
        self.judgements = QTableWidget(0, len(JUDGEMENT_COLUMNS))
        self.judgements.setHorizontalHeaderLabels(JUDGEMENT_COLUMNS)
        self.judgements.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.judgements.verticalHeader().hide()
        self.judgements.horizontalHeader().setStretchLastSection(True)
        self.judgements.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.answers_box = QWidget()
        self.answers_layout = QVBoxLayout(self.answers_box)
        answers_scroll = QScrollArea()
        answers_scroll.setWidgetResizable(True)
        answers_scroll.setWidget(self.answers_box)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.prompt_heading)
        top_layout.addWidget(self.prompt_view)
        detail = QSplitter(Qt.Orientation.Vertical)
        detail.addWidget(top)
        detail.addWidget(self.judgements)
        detail.addWidget(answers_scroll)
        detail.setSizes([250, 120, 450])
        sides = QSplitter()
        sides.addWidget(self.table)
        sides.addWidget(detail)
        sides.setSizes([700, 500])
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(sides, stretch=1)

        self.typing_pause = QTimer(self)
        self.typing_pause.setSingleShot(True)
        self.typing_pause.setInterval(TYPING_PAUSE_MS)
        self.typing_pause.timeout.connect(self.run_filter)
        self.search.textChanged.connect(self.typing_pause.start)
        self.search.returnPressed.connect(self.table.setFocus)
        for combo in self.filters():
            combo.currentIndexChanged.connect(self.run_filter)
        # Anywhere in the window while this tab shows (a hidden widget's shortcut does not fire).
        find = QShortcut(QKeySequence.StandardKey.Find, self, context=Qt.ShortcutContext.WindowShortcut)
        find.activated.connect(self._focus_search)

    # -- filling and filtering -----------------------------------------------------------------------

    def set_store(self, store: Store) -> None:
        """Another project, or this one changed: filled again when next shown."""
        self.store = store
        self.table_model.store = store
        self.filled = False

    def fill(self) -> None:
        """Shown: the prompts the filters keep, found again (judgements were saved meanwhile), and the
        filters' choices once a project (both on a worker)."""
        self.table.setFocus()  # arrows, Enter and Ctrl+F work at once
        if self.filled:
            self.run_filter()
            return
        self.filled = True
        self.choices_read = False  # read after the first search: the two would share the cores
        self.run_filter()

    def filters(self) -> tuple[QComboBox, ...]:
        return self.round_filter, self.status_filter, self.annotator_filter, self.model_filter, self.flag_filter

    def current_filter(self) -> PromptFilter:
        return PromptFilter(
            text=self.search.text(),
            # A combo box hands back a str enum's plain str.
            status=Status(self.status_filter.currentData()) if self.status_filter.currentData() else None,
            annotator=self.annotator_filter.currentData(),
            model=self.model_filter.currentData(),
            flag=self.flag_filter.currentData(),
            round=self.round_filter.currentData(),
        )

    def run_filter(self) -> None:
        """Find the prompts the filters keep, on a worker; a newer search makes an older one's answer moot."""
        self.typing_pause.stop()
        self.search_generation += 1
        generation, wanted = self.search_generation, self.current_filter()
        self.count_label.setText("Searching…")
        self.searching = True
        overtaken = lambda: self.search_generation != generation  # noqa: E731 (read on the worker thread)
        self.search_job = jobs.StoreJob(
            self.store.path, lambda store: browsing.matching_prompts(store, wanted, stop=overtaken)
        )
        self.search_job.signals.finished.connect(lambda ids: self._show_found(generation, ids))
        self.search_job.signals.failed.connect(lambda reason: self._search_failed(generation, reason))
        jobs.start(self.search_job)

    def _show_found(self, generation: int, prompt_ids: list[int]) -> None:
        if generation != self.search_generation:
            return
        self.searching = False
        if not self.choices_read:
            self._read_choices()
        keep = self.shown_prompt
        self.table_model.show_ids(prompt_ids)
        self._show_count()
        row = self.table_model.row_of(keep) if keep is not None else None
        if prompt_ids:
            self.table.selectRow(row if row is not None else 0)
        else:
            self._show_nothing()

    def _show_count(self) -> None:
        """ "12 of 101,000 prompts" under a filter (once the total is known), else "101,000 prompts"."""
        shown = self.table_model.rowCount()
        filtered = self.total is not None and shown != self.total
        self.count_label.setText(
            f"{shown:,} of {counted(self.total, 'prompt')}" if filtered else counted(shown, "prompt")
        )

    def _search_failed(self, generation: int, reason: str) -> None:
        if generation == self.search_generation:
            self.searching = False
            self.count_label.setText(f"Not searched: {reason}")

    def _read_choices(self) -> None:
        """The annotators and models to filter by, on a worker."""
        self.choices_read = True
        self.choices_job = jobs.StoreJob(
            self.store.path,
            lambda store: (
                browsing.round_numbers(store),
                browsing.annotator_names(store),
                browsing.model_names(store),
                browsing.prompt_count(store),
            ),
        )
        self.choices_job.signals.finished.connect(lambda found: self._set_choices(*found))
        jobs.start(self.choices_job)

    def _set_choices(self, rounds: list[int], annotators: list[str], models: list[str], prompts: int) -> None:
        self.total = prompts
        self._show_count()
        for combo, names in (
            (self.round_filter, [(f"Round {number}", number) for number in rounds]),
            (self.annotator_filter, [(name, name) for name in annotators]),
            (self.model_filter, [(name, name) for name in models]),
        ):
            chosen = combo.currentData()
            combo.blockSignals(True)  # the same filter, with its list filled: no new search
            while combo.count() > 1:
                combo.removeItem(1)
            for text, value in names:
                combo.addItem(text, value)
            combo.setCurrentIndex(max(combo.findData(chosen), 0) if chosen else 0)
            combo.blockSignals(False)

    def _focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # -- the chosen prompt ---------------------------------------------------------------------------

    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = {index.row() for index in selected.indexes()}
        if rows:
            self.show_prompt(self.store.prompt(self.table_model.prompt_id(min(rows))))

    def _open(self, row: int) -> None:
        if 0 <= row < self.table_model.rowCount():
            self.open_requested.emit(self.table_model.prompt_id(row))

    def show_prompt(self, prompt: Prompt) -> None:
        self.shown_prompt = prompt.id
        category = prompt.metadata.get("category")
        self.prompt_heading.setText(
            f"Prompt {prompt.external_id or prompt.id}"
            + (f" · {category}" if category else "")
            + " · Enter opens it in the Label tab"
        )
        self.prompt_view.show_prompt(prompt.content)
        self._show_judgements(browsing.judgements_of(self.store, prompt.id))
        self._clear_answers()
        several_rounds = len({answer.round for answer in prompt.answers}) > 1
        for number, answer in enumerate(prompt.answers, start=1):
            round_number = f" · round {answer.round}" if several_rounds else ""
            model = f" · {answer.model}" if answer.model else ""
            card = QGroupBox(f"Answer {number}{round_number}{model}")
            card_layout = QVBoxLayout(card)
            card_layout.addWidget(EmptyAnswerNote() if is_empty(answer.text) else MarkdownView(answer.text))
            card.setMinimumHeight(160)
            self.answers_layout.addWidget(card)

    def _show_judgements(self, views: list[JudgementView]) -> None:
        self.judgements.setRowCount(len(views))
        for row, view in enumerate(views):
            for column, text in enumerate(_judgement_cells(view)):
                self.judgements.setItem(row, column, QTableWidgetItem(text))
        self.judgements.resizeColumnsToContents()

    def _show_nothing(self) -> None:
        self.shown_prompt = None
        self.prompt_heading.setText("No prompt matches these filters.")
        self.prompt_view.show_prompt("")
        self.judgements.setRowCount(0)
        self._clear_answers()

    def _clear_answers(self) -> None:
        while self.answers_layout.count():
            self.answers_layout.takeAt(0).widget().deleteLater()


def _choices(anything: str, choices: list[tuple[str, object]]) -> QComboBox:
    """A filter: its first item (data None) keeps everything. It may be narrower than its longest item (the
    list opens at full width), so five filters fit a narrow window."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(5)
    combo.addItem(anything, None)
    for text, value in choices:
        combo.addItem(text, value)
    return combo


def _judgement_cells(view: JudgementView) -> tuple[str, ...]:
    flags = "; ".join(f"{number}: {', '.join(marks)}" for number, marks in sorted(view.flags.items()))
    outcome = view.outcome.replace("_", " ") + (f" ({view.skip_reason})" if view.skip_reason else "")
    return (
        view.annotator,
        str(view.round),
        view.created_at[:16].replace("T", " "),
        outcome,
        view.ranking,
        flags,
        f"{view.likert}/7" if view.likert else "",
        view.comment,
    )
