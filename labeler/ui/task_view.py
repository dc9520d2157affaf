"""The labelling view: one prompt, its answers as numbered cards, ranked from the keyboard.

The answers are shown in an order shuffled for this annotator and prompt (recorded with the
judgement). Every change to the ranking is saved as a draft at once, so a crash loses nothing;
Enter saves the judgement (and removes the draft in the same transaction) and shows the next prompt.
"""

from __future__ import annotations

from PySide6.QtCore import QElapsedTimer, Qt, Signal
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from labeler.domain import Judgement
from labeler.store import Prompt, Store, StoreError
from labeler.store.queue import display_order, next_prompt, progress
from labeler.ui.actions import make_actions
from labeler.ui.ranking_input import RankingInput, RankingInputError

# Answer text is untrusted and may be huge: show at most this much (plain text only).
MAX_SHOWN_CHARS = 20_000
STRENGTH_WORDS = {1: "slightly better", 2: "better", 3: "much better"}


def shown_text(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "\n\n[… text cut here …]"


def chat_as_text(messages: list[dict[str, str]]) -> str:
    return "\n\n".join(f"[{m.get('role', '?')}]\n{m.get('content', '')}" for m in messages)


class AnswerCard(QGroupBox):
    def __init__(self, number: int, text: str):
        super().__init__(f"Answer {number}")
        self.number = number
        self.badge = QLabel()
        self.badge.setTextFormat(Qt.TextFormat.PlainText)
        self.body = QPlainTextEdit()
        self.body.setReadOnly(True)
        self.body.setPlainText(shown_text(text))
        self.body.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the ranking, not the text
        layout = QVBoxLayout(self)
        layout.addWidget(self.badge)
        layout.addWidget(self.body)

    def show_tier(self, tier: int | None) -> None:
        self.badge.setText("not placed yet" if tier is None else f"rank {tier + 1}")
        # Placed cards stand out, so the state of the ranking reads at a glance.
        self.badge.setStyleSheet("" if tier is None else "font-weight: bold; color: #1a5fb4;")
        self.setStyleSheet("" if tier is None else "QGroupBox { border: 2px solid #1a5fb4; border-radius: 4px; }")


class TaskView(QWidget):
    message = Signal(str)  # for the status bar
    progressed = Signal(int, int)  # (done, total) for this annotator

    def __init__(self, store: Store, annotator: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.store = store
        self.annotator = annotator
        self.prompt: Prompt | None = None
        self.order: list[int] = []
        self.input = RankingInput(2)
        self.last_submitted: list[str] = []  # uuids, newest last, for undo
        self.timer = QElapsedTimer()

        self.heading = QLabel()
        self.heading.setTextFormat(Qt.TextFormat.PlainText)
        self.prompt_view = QPlainTextEdit()
        self.prompt_view.setReadOnly(True)
        self.prompt_view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.prompt_view.setMaximumHeight(180)
        self.strip = QLabel()
        self.strip.setTextFormat(Qt.TextFormat.PlainText)
        self.strip.setObjectName("rankingStrip")
        self.cards_box = QWidget()
        self.cards = QGridLayout(self.cards_box)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.prompt_view)
        layout.addWidget(self.strip)
        layout.addWidget(self.cards_box, stretch=1)

        self.actions_by_name = make_actions(self)
        for number in range(1, 10):
            self.actions_by_name[f"place_{number}"].triggered.connect(lambda _=False, n=number: self.place(n))
        self.actions_by_name["tie"].triggered.connect(lambda: self._edit(self.input.tie_next))
        self.actions_by_name["take_back"].triggered.connect(lambda: self._edit(self.input.take_back))
        self.actions_by_name["stronger"].triggered.connect(lambda: self._edit(lambda: self.input.change_strength(+1)))
        self.actions_by_name["weaker"].triggered.connect(lambda: self._edit(lambda: self.input.change_strength(-1)))
        self.actions_by_name["submit"].triggered.connect(self.submit)
        self.actions_by_name["undo_submit"].triggered.connect(self.undo_submit)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # -- which prompt ------------------------------------------------------------------------------

    def set_store(self, store: Store) -> None:
        """Label in `store` from now on (another project was opened)."""
        self.store = store
        self.last_submitted.clear()
        self.show_next()

    def show_next(self) -> None:
        prompt_id = next_prompt(self.store, self.annotator)
        self.progressed.emit(*progress(self.store, self.annotator))
        if prompt_id is None:
            self.prompt = None
            self.heading.setText("All done: no prompt is waiting for you.")
            self.prompt_view.clear()
            self._clear_cards()
            self.strip.clear()
            return
        self.show_prompt(prompt_id)

    def show_prompt(self, prompt_id: int, restore: RankingInput | None = None) -> None:
        self.prompt = self.store.prompt(prompt_id)
        self.order = display_order([a.id for a in self.prompt.answers], self.annotator, prompt_id)
        draft = self.store.draft(self.annotator, prompt_id)
        if restore is not None:
            self.input = restore
        elif draft and draft.get("display_order") == self.order:
            self.input = RankingInput.from_draft(len(self.order), draft["input"])
        else:
            self.input = RankingInput(len(self.order))
        category = self.prompt.metadata.get("category")
        self.heading.setText(
            f"Prompt {self.prompt.external_id or self.prompt.id}" + (f" · {category}" if category else "")
        )
        content = self.prompt.content
        self.prompt_view.setPlainText(content if self.prompt.kind == "text" else chat_as_text(content))
        self._build_cards()
        self._refresh()
        self.timer.restart()
        self.setFocus()

    def _clear_cards(self) -> None:
        while self.cards.count():
            self.cards.takeAt(0).widget().deleteLater()

    def _build_cards(self) -> None:
        self._clear_cards()
        texts = {a.id: a.text for a in self.prompt.answers}
        columns = 2 if len(self.order) <= 4 else 3  # K = 2 side by side; more in a grid that fits a laptop
        for index, answer_id in enumerate(self.order):
            self.cards.addWidget(AnswerCard(index + 1, texts[answer_id]), index // columns, index % columns)

    # -- ranking keys ------------------------------------------------------------------------------

    def place(self, number: int) -> None:
        self._edit(lambda: self.input.place(number))

    def _edit(self, change) -> None:
        if self.prompt is None:
            return
        try:
            change()
        except RankingInputError as error:
            self.message.emit(str(error))
            return
        self._refresh()
        self._save_draft()

    def _save_draft(self) -> None:
        try:
            self.store.save_draft(
                self.annotator, self.prompt.id, {"display_order": self.order, "input": self.input.to_draft()}
            )
        except StoreError as error:
            self.message.emit(f"Draft not saved: {error}")

    def _refresh(self) -> None:
        for index in range(self.cards.count()):
            card = self.cards.itemAt(index).widget()
            card.show_tier(self.input.tier_of(card.number))
        described = self.input.describe() or "type the answer numbers, best first"
        strength = STRENGTH_WORDS.get(self.input.strengths[-1]) if self.input.strengths else None
        done = " — Enter to submit" if self.input.is_complete else ""
        self.strip.setText(f"Ranking: {described}" + (f"   (last step: {strength})" if strength else "") + done)

    # -- saving ------------------------------------------------------------------------------------

    def submit(self) -> None:
        if self.prompt is None:
            return
        try:
            ranking = self.input.to_ranking(self.order)
            guidelines = self.store.guidelines()
            recorded = self.store.record_judgement(
                self.prompt.id,
                self.annotator,
                Judgement.ranked(ranking),
                self.order,
                seconds_spent=self.timer.elapsed() / 1000,
                guideline_version=guidelines[0] if guidelines else None,
            )
        except (RankingInputError, StoreError) as error:
            self.message.emit(str(error))
            return
        self.last_submitted.append(recorded.uuid)
        self.message.emit(f"Saved ({recorded.pairs} pairs).")
        self.show_next()

    def undo_submit(self) -> None:
        """Withdraw the last saved judgement (a retraction is recorded; nothing is deleted) and go
        back to that prompt with its ranking as it was, to correct it."""
        if not self.last_submitted:
            self.message.emit("Nothing to undo.")
            return
        judgement_uuid = self.last_submitted.pop()
        row = self.store.judgement_row(judgement_uuid)
        try:
            self.store.retract_judgement(judgement_uuid, self.annotator)
        except StoreError as error:
            self.message.emit(str(error))
            return
        order = row["display_order"]
        numbers = {answer_id: index + 1 for index, answer_id in enumerate(order)}
        restored = RankingInput.from_draft(
            len(order), {"tiers": [[numbers[a] for a in tier] for tier in row["tiers"]], "strengths": row["strengths"]}
        )
        self.show_prompt(row["prompt_id"], restore=restored)
        self.message.emit("Submission withdrawn: correct it and press Enter.")
