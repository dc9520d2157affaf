"""The Browse tab: a project's prompts on the left, the chosen prompt and its answers on the right.

Filled the first time it is shown after a project is opened or changed (on a 100,000-prompt project the
list costs 0.2 s, which the labelling view should not wait for).
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QListView, QScrollArea, QSplitter, QVBoxLayout, QWidget

from labeler.store import Prompt, Store
from labeler.ui.answer_cards import EmptyAnswerNote, is_empty
from labeler.ui.markdown_view import MarkdownView, PromptView
from labeler.ui.prompt_list import PromptListModel


class BrowseTab(QSplitter):
    def __init__(self, store: Store):
        super().__init__()
        self.store = store
        self.prompt_model: PromptListModel | None = None  # None until shown: see the module docstring
        self.prompt_list = QListView()
        self.prompt_list.setUniformItemSizes(True)
        self.prompt_list.setAlternatingRowColors(True)
        self.prompt_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.prompt_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.prompt_heading = QLabel()
        self.prompt_heading.setTextFormat(Qt.TextFormat.PlainText)
        self.prompt_view = PromptView(fold_chats=False)
        self.answers_box = QWidget()
        self.answers_layout = QVBoxLayout(self.answers_box)
        answers_scroll = QScrollArea()
        answers_scroll.setWidgetResizable(True)
        answers_scroll.setWidget(self.answers_box)

        detail = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.prompt_heading)
        top_layout.addWidget(self.prompt_view)
        detail.addWidget(top)
        detail.addWidget(answers_scroll)
        detail.setSizes([250, 550])

        self.addWidget(self.prompt_list)
        self.addWidget(detail)
        self.setSizes([360, 840])

    def set_store(self, store: Store) -> None:
        """Another project, or this one changed: the list is made again when next shown."""
        self.store = store
        self.prompt_model = None

    def fill(self) -> None:
        """The prompt list, made now if it is out of date; the first prompt shown."""
        if self.prompt_model is not None:
            return
        self.prompt_model = PromptListModel(self.store, self)
        self.prompt_list.setModel(self.prompt_model)
        self.prompt_list.selectionModel().selectionChanged.connect(self._on_selection)
        if self.prompt_model.rowCount():
            self.prompt_list.setCurrentIndex(self.prompt_model.index(0))

    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        if selected.indexes():
            self.show_prompt(self.store.prompt(self.prompt_model.prompt_id(selected.indexes()[0].row())))

    def show_prompt(self, prompt: Prompt) -> None:
        category = prompt.metadata.get("category")
        self.prompt_heading.setText(
            f"Prompt {prompt.external_id or prompt.id}" + (f" · {category}" if category else "")
        )
        self.prompt_view.show_prompt(prompt.content)
        while self.answers_layout.count():
            self.answers_layout.takeAt(0).widget().deleteLater()
        for number, answer in enumerate(prompt.answers, start=1):
            card = QGroupBox(f"Answer {number}" + (f" · {answer.model}" if answer.model else ""))
            card_layout = QVBoxLayout(card)
            card_layout.addWidget(EmptyAnswerNote() if is_empty(answer.text) else MarkdownView(answer.text))
            card.setMinimumHeight(160)
            self.answers_layout.addWidget(card)
