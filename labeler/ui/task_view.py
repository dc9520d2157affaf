"""The labelling view: one prompt, its answers as numbered cards, ranked from the keyboard.

The answers are shown in an order shuffled for this annotator and prompt (recorded with the
judgement). Every change to the ranking is saved as a draft at once, so a crash loses nothing;
Enter saves the judgement (and removes the draft in the same transaction) and shows the next prompt.
"""

from __future__ import annotations

import uuid

from PySide6.QtCore import QElapsedTimer, Qt, QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QMessageBox, QPlainTextEdit, QVBoxLayout, QWidget

from labeler.domain import LIKERT_RANGE, Flag, Judgement
from labeler.store import Prompt, Store, StoreError, WriteFailedError
from labeler.store.queue import display_order, next_prompt, own_judgements, progress
from labeler.ui import dialogs
from labeler.ui.actions import keyboard_help, make_actions
from labeler.ui.markdown_view import MarkdownView
from labeler.ui.ranking_input import RankingInput, RankingInputError
from labeler.ui.word_diff import diff_html

STRENGTH_WORDS = {1: "slightly better", 2: "better", 3: "much better"}
PROMPT_MAX_HEIGHT = 180
RETRY_SAVE_MS = 2000


def chat_as_text(messages: list[dict[str, str]]) -> str:
    return "\n\n".join(f"[{m.get('role', '?')}]\n{m.get('content', '')}" for m in messages)


class AnswerCard(QGroupBox):
    def __init__(self, number: int, text: str):
        super().__init__(f"Answer {number}")
        self.number = number
        self.badge = QLabel()
        self.badge.setTextFormat(Qt.TextFormat.PlainText)
        self.body = MarkdownView(text)
        layout = QVBoxLayout(self)
        layout.addWidget(self.badge)
        layout.addWidget(self.body)

    def show_tier(self, tier: int | None) -> None:
        self.badge.setText("not placed yet" if tier is None else f"rank {tier + 1}")
        # Placed cards stand out, so the state of the ranking reads at a glance.
        self.badge.setStyleSheet("" if tier is None else "font-weight: bold; color: #1a5fb4;")
        self.setStyleSheet(
            ""
            if tier is None
            else "QGroupBox { border: 2px solid #1a5fb4; border-radius: 4px; margin-top: 1.4em; }"
            "QGroupBox::title { subcontrol-origin: margin; left: 8px; }"
        )


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
        self.timer = QElapsedTimer()  # runs only while the window is active (see pause/resume)
        self.seconds_before_pause = 0.0
        self.details = _no_details()  # flags (by answer number), likert, comment
        self.pending: str | None = None  # "flag" or "likert": the next number is for it
        self.correcting: str | None = None  # uuid of the own judgement shown for correction, if any
        self.diff_shown = False  # D: a pair shown as a word diff
        self.pending_save = None  # (attempt, done message) while a save waits for the file to be writable
        self.retry_timer = QTimer(self)
        self.retry_timer.setInterval(RETRY_SAVE_MS)
        self.retry_timer.timeout.connect(self._retry_save)

        self.banner = QLabel()  # non-modal: says a save is waiting, without stopping anyone reading
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #fdecea; color: #8a1c12; padding: 6px; border-radius: 4px;")
        self.banner.hide()
        self.heading = QLabel()
        self.heading.setTextFormat(Qt.TextFormat.PlainText)
        self.prompt_view = QPlainTextEdit()
        self.prompt_view.setReadOnly(True)
        self.prompt_view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.prompt_view.setMaximumHeight(PROMPT_MAX_HEIGHT)
        # A short prompt takes the room it needs; a long one scrolls within PROMPT_MAX_HEIGHT.
        self.prompt_view.document().documentLayout().documentSizeChanged.connect(self._fit_prompt)
        self.strip = QLabel()
        self.strip.setTextFormat(Qt.TextFormat.PlainText)
        self.strip.setObjectName("rankingStrip")
        self.cards_box = QWidget()
        self.cards = QGridLayout(self.cards_box)
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
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
        self.actions_by_name["back"].triggered.connect(lambda: self.step_history(-1))
        self.actions_by_name["forward"].triggered.connect(lambda: self.step_history(+1))
        self.actions_by_name["all_bad"].triggered.connect(lambda: self._save(Judgement.all_bad, "All bad"))
        self.actions_by_name["skip"].triggered.connect(self.skip)
        self.actions_by_name["flag"].triggered.connect(
            lambda: self._expect("flag", "Flag which answer? Type its number")
        )
        self.actions_by_name["likert"].triggered.connect(
            lambda: self._expect("likert", "Quality of the best answer? Type 1 (bad) to 7 (excellent)")
        )
        self.actions_by_name["cancel"].triggered.connect(lambda: self._expect(None, ""))
        self.actions_by_name["comment"].triggered.connect(self.comment)
        self.actions_by_name["rewrite"].triggered.connect(self.rewrite)
        self.actions_by_name["diff"].triggered.connect(self.toggle_diff)
        self.actions_by_name["help"].triggered.connect(
            lambda: QMessageBox.information(self, "Keyboard", keyboard_help())
        )
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def _fit_prompt(self) -> None:
        lines = self.prompt_view.document().size().height()  # in lines, for a plain text document
        wanted = int(lines * self.prompt_view.fontMetrics().lineSpacing()) + 16
        self.prompt_view.setFixedHeight(min(max(wanted, 40), PROMPT_MAX_HEIGHT))

    # -- which prompt ------------------------------------------------------------------------------

    def set_store(self, store: Store) -> None:
        """Label in `store` from now on (another project was opened)."""
        self.store = store
        self.last_submitted.clear()
        self.show_next()

    def show_next(self) -> None:
        self.correcting = None
        prompt_id = next_prompt(self.store, self.annotator, after=self.prompt.id if self.prompt else 0)
        self.progressed.emit(*progress(self.store, self.annotator))
        if prompt_id is None:
            self.prompt = None
            self.heading.setText("All done: no prompt is waiting for you.")
            self.prompt_view.clear()
            self._clear_cards()
            self.strip.clear()
            return
        self.show_prompt(prompt_id)

    def show_prompt(self, prompt_id: int, restore: RankingInput | None = None, order: list[int] | None = None) -> None:
        """Show a prompt; `restore` and `order` reopen a saved judgement as it was shown."""
        self.prompt = self.store.prompt(prompt_id)
        self.order = order or display_order([a.id for a in self.prompt.answers], self.annotator, prompt_id)
        draft = self.store.draft(self.annotator, prompt_id)
        self.details, self.pending = _no_details(), None
        if restore is not None:
            self.input = restore
        elif draft and draft.get("display_order") == self.order:
            self.input = RankingInput.from_draft(len(self.order), draft["input"])
            self.details = _details_from_draft(draft.get("details", {}), len(self.order))
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
        self.seconds_before_pause = 0.0
        self.timer.restart()
        self.setFocus()

    def _clear_cards(self) -> None:
        while self.cards.count():
            self.cards.takeAt(0).widget().deleteLater()

    def toggle_diff(self) -> None:
        """D: for a pair, show the two answers as a word diff, or back as rendered markdown."""
        if self.prompt is None or len(self.order) != 2:
            self.message.emit("The word diff compares two answers; this prompt has more.")
            return
        self.diff_shown = not self.diff_shown
        first, second = (self.cards.itemAt(i).widget() for i in range(2))
        if self.diff_shown:
            left, right = diff_html(first.body.text, second.body.text)
            first.body.browser.setHtml(left)
            second.body.browser.setHtml(right)
        else:
            first.body.render(first.body.rendered_chars)
            second.body.render(second.body.rendered_chars)

    def _build_cards(self) -> None:
        self.diff_shown = False
        self._clear_cards()
        texts = {a.id: a.text for a in self.prompt.answers}
        columns = 2 if len(self.order) <= 4 else 3  # K = 2 side by side; more in a grid that fits a laptop
        for index, answer_id in enumerate(self.order):
            self.cards.addWidget(AnswerCard(index + 1, texts[answer_id]), index // columns, index % columns)

    # -- ranking keys ------------------------------------------------------------------------------

    def place(self, number: int) -> None:
        """A number key: the next answer in the ranking, or the answer to flag, or the rating."""
        pending, self.pending = self.pending, None
        if pending == "flag":
            self.flag(number)
        elif pending == "likert":
            self._edit(lambda: self._rate(number))
        else:
            self._edit(lambda: self.input.place(number))

    # -- time spent: counted only while the annotator is in the window -----------------------------

    def pause(self) -> None:
        if self.timer.isValid():
            self.seconds_before_pause += self.timer.elapsed() / 1000
            self.timer.invalidate()

    def resume(self) -> None:
        if not self.timer.isValid():
            self.timer.start()

    def seconds_spent(self) -> float:
        return self.seconds_before_pause + (self.timer.elapsed() / 1000 if self.timer.isValid() else 0.0)

    def _expect(self, what: str | None, prompt: str) -> None:
        if self.prompt is not None:
            self.pending = what
            self.message.emit(prompt)

    def _rate(self, value: int) -> None:
        if value not in LIKERT_RANGE:
            raise RankingInputError("the quality is 1 to 7")
        self.details["likert"] = value

    def flag(self, number: int) -> None:
        if not 1 <= number <= len(self.order):
            self.message.emit(f"there is no answer {number}")
            return
        chosen = dialogs.choose_flags(self, number, self.details["flags"].get(number, set()))
        if chosen is not None:
            self._edit(lambda: self.details["flags"].__setitem__(number, chosen))

    def comment(self) -> None:
        if self.prompt is not None:
            text = dialogs.ask_comment(self, self.details["comment"])
            if text is not None:
                self._edit(lambda: self.details.__setitem__("comment", text))

    def rewrite(self) -> None:
        """Write a better answer, starting from the best one so far (saved at once, for SFT)."""
        if self.prompt is None:
            return
        texts = {a.id: a.text for a in self.prompt.answers}
        best = self.input.tiers[0][0] if self.input.tiers else 1
        based_on = self.order[best - 1]
        text = dialogs.ask_rewrite(self, texts[based_on])
        if text is None:
            return
        try:
            self.store.add_demonstration(self.prompt.id, self.annotator, text, based_on_answer_id=based_on)
        except StoreError as error:
            self.message.emit(str(error))
            return
        self.message.emit("Your answer is saved.")

    def skip(self) -> None:
        if self.prompt is not None:
            reason = dialogs.ask_skip_reason(self)
            if reason is not None:
                self._save(lambda **details: Judgement.skipped(reason, **details), "Skipped")

    def _edit(self, change) -> None:
        if self.prompt is None:
            return
        if self.pending_save is not None:
            self.message.emit("Waiting to save the last judgement; the ranking cannot change meanwhile.")
            return
        try:
            change()
        except RankingInputError as error:
            self.message.emit(str(error))
            return
        self._refresh()
        self._save_draft()

    def _save_draft(self) -> None:
        details = {**self.details, "flags": {str(n): sorted(f) for n, f in self.details["flags"].items()}}
        try:
            self.store.save_draft(
                self.annotator,
                self.prompt.id,
                {"display_order": self.order, "input": self.input.to_draft(), "details": details},
            )
        except StoreError as error:
            # The ranking is still on screen; say so where it cannot be missed, and the next key
            # that saves a draft takes the banner away.
            self.banner.setText(f"Your ranking in progress is not saved yet: {error}. Keep going; it is kept here.")
            self.banner.show()
            return
        if self.pending_save is None:
            self.banner.hide()

    def _refresh(self) -> None:
        for index in range(self.cards.count()):
            card = self.cards.itemAt(index).widget()
            card.show_tier(self.input.tier_of(card.number))
        described = self.input.describe() or "type the answer numbers, best first"
        strength = STRENGTH_WORDS.get(self.input.strengths[-1]) if self.input.strengths else None
        done = " — Enter to submit" if self.input.is_complete else ""
        extras = []
        if self.details["likert"]:
            extras.append(f"quality {self.details['likert']}/7")
        flagged = sorted(n for n, flags in self.details["flags"].items() if flags)
        if flagged:
            extras.append("flags on " + ", ".join(map(str, flagged)))
        if self.details["comment"]:
            extras.append("comment")
        self.strip.setText(
            f"Ranking: {described}"
            + (f"   (last step: {strength})" if strength else "")
            + done
            + (f"   · {' · '.join(extras)}" if extras else "")
        )

    # -- saving ------------------------------------------------------------------------------------

    def submit(self) -> None:
        if self.prompt is not None:
            self._save(lambda **details: Judgement.ranked(self.input.to_ranking(self.order), **details), "Saved")

    def _save(self, judgement, done: str) -> None:
        """Record the judgement `judgement(**details)` builds, with the time spent, and go on.

        If the file cannot be written (locked, read-only, disk full), the ranking stays a draft, a
        banner says so, and the same save is retried until it succeeds: with one uuid chosen here,
        so it is recorded exactly once even if an attempt's outcome was unknown.
        """
        if self.prompt is None or self.pending_save is not None:
            return
        flags = {self.order[n - 1]: frozenset(Flag(f) for f in fs) for n, fs in self.details["flags"].items() if fs}
        try:
            made = judgement(flags=flags, likert=self.details["likert"], comment=self.details["comment"])
        except RankingInputError as error:
            self.message.emit(str(error))
            return
        guidelines = self.store.guidelines()
        prompt_id, order, seconds, supersedes = self.prompt.id, list(self.order), self.seconds_spent(), self.correcting
        save_uuid = str(uuid.uuid4())

        def attempt():
            return self.store.record_judgement(
                prompt_id,
                self.annotator,
                made,
                order,
                seconds_spent=seconds,
                guideline_version=guidelines[0] if guidelines else None,
                supersedes=supersedes,
                judgement_uuid=save_uuid,
            )

        self._attempt(attempt, f"{done}{' as a correction' if supersedes else ''}")

    def _attempt(self, attempt, done: str) -> None:
        try:
            recorded = attempt()
        except WriteFailedError as error:
            self.pending_save = (attempt, done)
            self.banner.setText(
                f"Not saved yet: {error}. Your ranking is kept as a draft and will be saved as soon as "
                "the file can be written (trying again every few seconds)."
            )
            self.banner.show()
            self.retry_timer.start()
            return
        except StoreError as error:
            self.message.emit(str(error))
            return
        self.pending_save = None
        self.retry_timer.stop()
        self.banner.hide()
        self.last_submitted.append(recorded.uuid)
        self.message.emit(f"{done} ({recorded.pairs} pairs).")
        self.show_next()

    def _retry_save(self) -> None:
        if self.pending_save is not None:
            self._attempt(*self.pending_save)

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
        self._show_judgement(row)
        self.message.emit("Submission withdrawn: correct it and press Enter.")

    def step_history(self, step: int) -> None:
        """Left/Right: move through this annotator's own judgements; Enter on one saves a
        correction that supersedes it. Right past the newest goes back to new prompts."""
        history = own_judgements(self.store, self.annotator)
        position = history.index(self.correcting) if self.correcting in history else len(history)
        target = position + step
        if target < 0:
            self.message.emit("That is your first judgement.")
        elif target >= len(history):
            if self.correcting is not None:
                self.show_next()
            else:
                self.message.emit("You are at your newest prompt.")
        else:
            self._show_judgement(self.store.judgement_row(history[target]))
            self.correcting = history[target]
            self.heading.setText(
                self.heading.text() + f"  — your judgement {target + 1} of {len(history)}: Enter saves a correction"
            )

    def _show_judgement(self, row: dict) -> None:
        """Show a saved judgement's prompt with its ranking and details, ready to be changed."""
        order = row["display_order"]
        numbers = {answer_id: index + 1 for index, answer_id in enumerate(order)}
        tiers = [[numbers[a] for a in tier] for tier in row["tiers"] or []]
        restored = RankingInput.from_draft(len(order), {"tiers": tiers, "strengths": row["strengths"] or []})
        self.show_prompt(row["prompt_id"], restore=restored, order=order)
        self.details = {
            "flags": {numbers[int(a)]: set(flags) for a, flags in row["flags"].items()},
            "likert": row["likert"],
            "comment": row["comment"],
        }
        self._refresh()


def _no_details() -> dict:
    return {"flags": {}, "likert": None, "comment": ""}


def _details_from_draft(saved: dict, answer_count: int) -> dict:
    """Flags, rating and comment from a draft, keeping only what is still valid."""
    details = _no_details()
    for number, flags in saved.get("flags", {}).items():
        if str(number).isdigit() and 1 <= int(number) <= answer_count:
            details["flags"][int(number)] = {f for f in flags if f in {flag.value for flag in Flag}}
    if saved.get("likert") in LIKERT_RANGE:
        details["likert"] = saved["likert"]
    if isinstance(saved.get("comment"), str):
        details["comment"] = saved["comment"]
    return details
