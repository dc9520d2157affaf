"""The labelling view: one prompt, its answers as numbered cards, ranked from the keyboard.

The answers are shown in an order shuffled for this annotator and prompt (recorded with the
judgement). Every change to the ranking is saved as a draft at once, so a crash loses nothing;
Enter saves the judgement (and removes the draft in the same transaction) and shows the next prompt.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from labeler.domain import Judgement, recorded_stated_strengths
from labeler.store import Prompt, Store, StoreError, WriteFailedError
from labeler.store.queue import display_order, next_prompt, own_judgement_of, own_judgements, resume_point
from labeler.ui import dialogs, jobs
from labeler.ui.actions import LABELLING_COMMANDS, make_actions
from labeler.ui.answer_cards import CardDeck, DeckPair
from labeler.ui.help_overlay import HelpOverlay
from labeler.ui.judgement_details import JudgementDetails
from labeler.ui.markdown_view import MAX_RENDERED_CHARS, PromptView, prerender, scroll_page
from labeler.ui.progress import Progress
from labeler.ui.prompt_splitter import PromptSplitter
from labeler.ui.ranking_input import RankingInput, RankingInputError
from labeler.ui.ranking_strip import RankingStrip
from labeler.ui.stopwatch import Stopwatch
from labeler.ui.style import is_dark
from labeler.ui.submissions import SavedJudgement, SubmissionHistory
from labeler.ui.word_diff import MIN_COMMON_RUN, diff_html
from labeler.wording import counted

STRENGTH_WORDS = {1: "slightly better", 2: "better", 3: "much better"}
RETRY_SAVE_MS = 2000
PREPARE_AFTER_MS = 300


class TaskView(QWidget):
    message = Signal(str)  # for the status bar
    progressed = Signal(object)  # this annotator's Progress, after every change

    def __init__(self, store: Store, annotator: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.store = store
        self.annotator = annotator
        self.prompt: Prompt | None = None
        self.progress: Progress | None = None  # counted when a project is opened, then kept up to date
        self.unsynced: list[tuple[int, bool, bool]] = []  # (judgement id, withdrawn, correction) while counting
        self.count_generation = 0
        self.counting_job: jobs.StoreJob | None = None
        self.order: list[int] = []
        self.input = RankingInput(2)
        self.submissions = SubmissionHistory()  # Ctrl+Z, Ctrl+Shift+Z
        self.stopwatch = Stopwatch()  # runs only while the window is active (see pause/resume)
        self.details = JudgementDetails()  # flags (by answer number), likert, comment
        self.pending: str | None = None  # "flag" or "likert": the next number is for it
        self.correcting: str | None = None  # uuid of the own judgement shown for correction, if any
        self.diff_shown = False  # D: a pair shown as a word diff
        self.pending_save = None  # (attempt, saved, done message) while a save waits for the file to be writable
        self.retry_timer = QTimer(self)
        self.retry_timer.setInterval(RETRY_SAVE_MS)
        self.retry_timer.timeout.connect(self._retry_save)

        self.banner = QLabel()  # non-modal: says a save is waiting, without stopping anyone reading
        self.banner.setObjectName("banner")
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.heading = QLabel()
        self.heading.setObjectName("promptHeading")
        self.heading.setTextFormat(Qt.TextFormat.PlainText)
        self.prompt_view = PromptView()
        self.strip = RankingStrip()
        self.strip.dropped_into_tier.connect(lambda n, tier: self._edit(lambda: self.input.move_into_tier(n, tier)))
        self.strip.dropped_between.connect(lambda n, gap: self._edit(lambda: self.input.move_to_new_tier(n, gap)))
        self.strip.dropped_out.connect(lambda n: self._edit(lambda: self.input.unplace(n)))
        # The next task's cards are filled and laid out behind while the annotator reads
        # (`_prepare_next`), so Enter only swaps the decks: setting the texts and laying them out
        # was half of what showing a task cost (BENCHMARKS.md).
        self.cards_box = DeckPair()
        self.prepared: tuple[str, ...] | None = None  # the texts waiting in the back deck, in order
        below = QWidget()
        below_layout = QVBoxLayout(below)
        below_layout.setContentsMargins(0, 0, 0, 0)
        below_layout.addWidget(self.strip)
        below_layout.addWidget(self.cards_box, stretch=1)
        self.below = below
        self.splitter = PromptSplitter(self.prompt_view, below, lambda: below.height() - self.deck.spare_height())
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.heading)
        layout.addWidget(self.splitter, stretch=1)

        self.actions_by_name = make_actions(self, LABELLING_COMMANDS, self._handlers())
        self.help_overlay = HelpOverlay(self)
        self.help_overlay.closed.connect(self._help_closed)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def _handlers(self) -> dict[str, Callable[[], object]]:
        """What each labelling command (actions.LABELLING_COMMANDS) does."""
        edit = self._edit
        return {
            **{f"place_{n}": functools.partial(self.place, n) for n in range(1, 10)},
            "tie": lambda: edit(self.input.tie_next),
            "take_back": lambda: edit(self.input.take_back),
            "stronger": lambda: edit(lambda: self.input.change_strength(+1)),
            "weaker": lambda: edit(lambda: self.input.change_strength(-1)),
            "submit": self.submit,
            "all_bad": lambda: self._save(Judgement.all_bad, "All bad"),
            "skip": self.skip,
            "flag": lambda: self._expect("flag", "Flag which answer? Type its number"),
            "likert": lambda: self._expect("likert", "Quality of the best answer? Type 1 (bad) to 7 (excellent)"),
            "comment": self.comment,
            "rewrite": self.rewrite,
            "cancel": lambda: self._expect(None, ""),
            "undo_submit": self.undo_submit,
            "redo_submit": self.redo_submit,
            "back": lambda: self.step_history(-1),
            "forward": lambda: self.step_history(+1),
            "diff": self.toggle_diff,
            "turns": self.toggle_turns,
            "prompt_down": lambda: self.prompt_view.scroll_page(+1),
            "prompt_up": lambda: self.prompt_view.scroll_page(-1),
            "answers_down": lambda: self.scroll_answers(+1),
            "answers_up": lambda: self.scroll_answers(-1),
            "help": self.show_help,
        }

    def set_keys_enabled(self, enabled: bool) -> None:
        """The labelling keys work, or rest: their actions are in the window's Label menu, so they would
        otherwise act on the task from anywhere in the window (Enter in the Browse tab would save it)."""
        for action in self.actions_by_name.values():
            action.setEnabled(enabled)

    def show_help(self) -> None:
        """? / F1: every key, over the task; the labelling keys rest until it is closed."""
        self.set_keys_enabled(False)
        self.help_overlay.open()

    def _help_closed(self) -> None:
        self.set_keys_enabled(True)
        self.setFocus()

    @property
    def deck(self) -> CardDeck:
        """The cards shown."""
        return self.cards_box.shown

    # -- which prompt ------------------------------------------------------------------------------

    def set_store(self, store: Store) -> None:
        """Label in `store` from now on (a project was opened): from where this annotator left off."""
        self.store = store
        self.prompt = None
        self.submissions.clear()
        self.recount()
        self.show_next(after=resume_point(store, self.annotator))

    def recount(self) -> None:
        """Count the progress from the file on a worker thread (when a project opens, and after an
        import); what is saved meanwhile is kept aside and added to the count when it arrives."""
        self.progress = None
        self.unsynced = []
        self.count_generation += 1
        generation, annotator = self.count_generation, self.annotator
        self.counting_job = jobs.StoreJob(self.store.path, lambda store: Progress.count_with_mark(store, annotator))
        self.counting_job.signals.finished.connect(lambda counted: self._counted(generation, *counted))
        self.counting_job.signals.failed.connect(self.message.emit)
        jobs.start(self.counting_job)

    def _counted(self, generation: int, counted: Progress, mark: int) -> None:
        if generation != self.count_generation:
            return  # a count of a project no longer open, or overtaken by a newer one
        self.progress = counted
        for judgement_id, withdrawn, correction in self.unsynced:
            if judgement_id > mark:  # saved after the count's snapshot
                self._apply_count(withdrawn, correction)
        self.unsynced = []
        self.progressed.emit(self.progress)
        if self.prompt is None:
            self._show_nothing_left()

    def _counts_change(self, judgement_id: int, withdrawn: bool = False, correction: bool = False) -> None:
        if self.progress is None:
            self.unsynced.append((judgement_id, withdrawn, correction))
            return
        self._apply_count(withdrawn, correction)
        self.progressed.emit(self.progress)

    def _apply_count(self, withdrawn: bool, correction: bool) -> None:
        if withdrawn:
            self.progress.withdrawn()
        else:
            self.progress.saved(correction)

    def show_next(self, after: int | None = None) -> None:
        self.correcting = None
        start = after if after is not None else (self.prompt.id if self.prompt else 0)
        prompt_id = next_prompt(self.store, self.annotator, after=start)
        if prompt_id is None:
            self.prompt = None
            self._show_nothing_left()
            self.prompt_view.show_prompt("")
            self._clear_cards()
            self.strip.show_ranking(RankingInput(0), "")
            return
        self.show_prompt(prompt_id)

    def _show_nothing_left(self) -> None:
        self.heading.setText(
            "This project has no prompts yet: File ▸ Import… adds some."
            if self.progress is not None and not self.progress.total
            else "All done: no prompt is waiting for you."
        )

    def show_prompt(self, prompt_id: int, restore: RankingInput | None = None, order: list[int] | None = None) -> None:
        """Show a prompt; `restore` and `order` reopen a saved judgement as it was shown."""
        self.prompt = self.store.prompt(prompt_id)
        self.order = order or display_order(list(self.store.task(prompt_id).answer_ids), self.annotator, prompt_id)
        draft = self.store.draft(self.annotator, prompt_id)
        self.details, self.pending = JudgementDetails(), None
        if restore is not None:
            self.input = restore
        elif draft and draft.get("display_order") == self.order:
            self.input = RankingInput.from_draft(len(self.order), draft["input"])
            self.details = JudgementDetails.from_draft(draft.get("details", {}), len(self.order))
        else:
            self.input = RankingInput(len(self.order))
        category = self.prompt.metadata.get("category")
        self.heading.setText(
            f"Prompt {self.prompt.external_id or self.prompt.id}" + (f" · {category}" if category else "")
        )
        self._build_cards()
        self.prompt_view.show_prompt(self.prompt.content)
        self.splitter.fit()
        self.layout().activate()  # the cards' size under this prompt, now rather than at the paint
        self.cards_box.fit()
        self._refresh()
        self.stopwatch.restart()
        self.setFocus()
        # While the annotator reads this one, render the next task's texts (cached), so the next
        # Enter shows it without rendering markdown (about half of what showing a task costs).
        QTimer.singleShot(PREPARE_AFTER_MS, self._prepare_next)

    def _prepare_next(self) -> None:
        """Render the next task's prompt into the cache and lay out its cards in the back deck."""
        if self.prompt is None or self.pending_save is not None or not self.isVisible():
            return
        upcoming = next_prompt(self.store, self.annotator, after=self.prompt.id)
        if upcoming is None:
            return
        prompt = self.store.prompt(upcoming)
        order = display_order(list(self.store.task(upcoming).answer_ids), self.annotator, upcoming)
        contents = [prompt.content] if isinstance(prompt.content, str) else [m["content"] for m in prompt.content]
        prerender(contents, is_dark(self.palette()))
        # Under the next prompt the cards get what this prompt's height leaves them: the texts are laid
        # out at the width they will have first, so how tall the answers need to be is known.
        behind = self.cards_box.behind
        behind.show_texts(_texts_in_order(prompt, order))
        behind.grid.activate()  # another number of answers: the cards' widths, now
        answers_need = self.below.height() - self.cards_box.height() + behind.height() - behind.spare_height()
        next_height = self.splitter.prompt_height(self.prompt_view.content_height(prompt.content), answers_need)
        self.cards_box.prepare_size(self.cards_box.size() + QSize(0, self.prompt_view.height() - next_height))
        self.prepared = behind.texts

    # -- reading: folds and scrolling -----------------------------------------------------------

    def toggle_turns(self) -> None:
        """T: a long chat's earlier turns whole, or folded back to one line each."""
        if not self.prompt_view.toggle_folded():
            self.message.emit("Only a chat of more than four turns folds.")

    def scroll_answers(self, pages: int) -> None:
        """Shift+PgUp / Shift+PgDn: every answer a page up or down, so they stay side by side."""
        for card in self.deck.cards():
            scroll_page(card.body.browser, pages)

    def _clear_cards(self) -> None:
        self.deck.arrange(0)
        self.prepared = None

    def toggle_diff(self) -> None:
        """D: for a pair, show the two answers as a word diff, or back as rendered markdown."""
        if self.prompt is None or len(self.order) != 2:
            self.message.emit("The word diff compares two answers; this prompt has more.")
            return
        first, second = self.deck.cards()
        if self.diff_shown:
            first.body.render(first.body.rendered_chars)
            second.body.render(second.body.rendered_chars)
            self.diff_shown = False
            return
        # The diff of what can be rendered quickly: word diffs of huge texts are slow.
        diff = diff_html(first.body.text[:MAX_RENDERED_CHARS], second.body.text[:MAX_RENDERED_CHARS])
        if diff is None:
            self.message.emit(
                f"The two answers share no run of {MIN_COMMON_RUN} words or more: there is no difference to "
                "highlight; compare them as they are."
            )
            return
        first.body.show_html(diff[0])
        second.body.show_html(diff[1])
        self.diff_shown = True

    def _build_cards(self) -> None:
        self.diff_shown = False
        texts = _texts_in_order(self.prompt, self.order)
        if self.prepared == texts:
            self.cards_box.swap()
        else:
            self.deck.show_texts(texts)
        self.prepared = None

    # -- ranking keys ------------------------------------------------------------------------------

    def place(self, number: int) -> None:
        """A number key: the next answer in the ranking, or the answer to flag, or the rating."""
        pending, self.pending = self.pending, None
        if pending is not None:
            self.message.emit("")  # the question in the status bar is answered
        if pending == "flag":
            self.flag(number)
        elif pending == "likert":
            self._edit(lambda: self._rate(number))
        else:
            self._edit(lambda: self.input.place(number))

    # -- time spent: counted only while the annotator is in the window -----------------------------

    def pause(self) -> None:
        self.stopwatch.pause()

    def resume(self) -> None:
        self.stopwatch.resume()

    def seconds_spent(self) -> float:
        return self.stopwatch.seconds()

    def _expect(self, what: str | None, prompt: str) -> None:
        if self.prompt is not None:
            self.pending = what
            self.message.emit(prompt)

    def _rate(self, value: int) -> None:
        self.details.rate(value)

    def flag(self, number: int) -> None:
        if not 1 <= number <= len(self.order):
            self.message.emit(f"there is no answer {number}")
            return
        chosen = dialogs.choose_flags(self, number, set(self.details.flags.get(number, ())))
        if chosen is not None:
            self._edit(lambda: self.details.set_flags(number, chosen))

    def comment(self) -> None:
        if self.prompt is not None:
            text = dialogs.ask_comment(self, self.details.comment)
            if text is not None:
                self._edit(lambda: setattr(self.details, "comment", text))

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
        try:
            self.store.save_draft(
                self.annotator,
                self.prompt.id,
                {"display_order": self.order, "input": self.input.to_draft(), "details": self.details.to_draft()},
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
        for card in self.deck.cards():
            tier = self.input.tier_of(card.number)
            flags = self.details.flags.get(card.number)
            card.show_tier(
                tier,
                tied=tier is not None and len(self.input.tiers[tier]) > 1,
                notes=f"⚑ {len(flags)} flag{'s' if len(flags) > 1 else ''}" if flags else "",
            )
        strength = STRENGTH_WORDS.get(self.input.strengths[-1]) if self.input.strengths else None
        notes = []
        if not self.input.tiers:
            notes.append("type the answer numbers, best first (? for every key)")
        if strength:
            notes.append(f"last step: {strength}")
        if self.details.likert:
            notes.append(f"quality {self.details.likert}/7")
        flagged = self.details.flagged()
        if flagged:
            notes.append("flags on " + ", ".join(map(str, flagged)))
        if self.details.comment:
            notes.append("comment")
        if self.input.is_complete:
            notes.append("Enter to submit")
        self.strip.show_ranking(self.input, " · ".join(notes))

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
        try:
            made = judgement(**self.details.judgement_arguments(self.order))
        except RankingInputError as error:
            self.message.emit(str(error))
            return
        guidelines = self.store.guidelines()
        saved = SavedJudgement(
            self.prompt.id,
            self.annotator,
            made,
            tuple(self.order),
            seconds_spent=self.seconds_spent(),
            guideline_version=guidelines[0] if guidelines else None,
            supersedes=self.correcting,
        )
        save_uuid = str(uuid.uuid4())
        store = self.store  # retried in this project, even if another is opened meanwhile
        as_correction = " as a correction" if saved.supersedes else ""
        self._attempt(lambda: saved.record(store, save_uuid), saved, f"{done}{as_correction}")

    def _attempt(self, attempt, saved: SavedJudgement, done: str) -> None:
        try:
            recorded = attempt()
        except WriteFailedError as error:
            self.pending_save = (attempt, saved, done)
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
        self.submissions.saved(saved, recorded)
        self.message.emit(f"{done} ({counted(recorded.pairs, 'pair')}).")
        self._counts_change(recorded.id, correction=saved.supersedes is not None)
        self.show_next()

    def _retry_save(self) -> None:
        if self.pending_save is not None:
            self._attempt(*self.pending_save)

    def undo_submit(self) -> None:
        """Ctrl+Z: withdraw the last saved judgement (a retraction is recorded; nothing is deleted) and go
        back to that prompt with its ranking as it was, to correct it."""
        if not self.submissions.can_undo():
            self.message.emit("Nothing to undo.")
            return
        try:
            entry, retraction = self.submissions.undo(self.store)
        except StoreError as error:
            self.message.emit(f"Not withdrawn: {error}. Ctrl+Z again once the file is free.")
            return
        self._counts_change(retraction.id, withdrawn=True)
        self._show_judgement(self.store.judgement_row(entry.judgement_uuid))
        self.message.emit("Submission withdrawn: correct it and press Enter (Ctrl+Shift+Z saves it as it was).")

    def redo_submit(self) -> None:
        """Ctrl+Shift+Z: save the judgement Ctrl+Z withdrew again, as it was, and go on."""
        if not self.submissions.can_redo():
            self.message.emit("Nothing to redo.")
            return
        if self.pending_save is not None:
            self.message.emit("Waiting to save the last judgement; try again once it is saved.")
            return
        try:
            _entry, recorded = self.submissions.redo(self.store)
        except StoreError as error:
            self.message.emit(f"Not saved again: {error}. Ctrl+Shift+Z again once the file is free.")
            return
        self.message.emit(f"Saved again ({counted(recorded.pairs, 'pair')}).")
        self._counts_change(recorded.id)
        self.show_next()

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
            self._show_correction(history[target], f"your judgement {target + 1} of {len(history)}")

    def open_prompt(self, prompt_id: int) -> None:
        """From the Browse tab: this prompt's task to judge, or your own judgement of it to correct."""
        if self.pending_save is not None:
            self.message.emit("Waiting to save the last judgement; try again once it is saved.")
            return
        own = own_judgement_of(self.store, self.annotator, prompt_id, self.store.task(prompt_id).round)
        if own is not None:
            self._show_correction(own, "your judgement")
        else:
            self.correcting = None
            self.show_prompt(prompt_id)

    def _show_correction(self, judgement_uuid: str, which: str) -> None:
        self._show_judgement(self.store.judgement_row(judgement_uuid))
        self.correcting = judgement_uuid
        self.heading.setText(self.heading.text() + f"  — {which}: Enter saves a correction")

    def _show_judgement(self, row: dict) -> None:
        """Show a saved judgement's prompt with its ranking and details, ready to be changed."""
        order = row["display_order"]
        numbers = {answer_id: index + 1 for index, answer_id in enumerate(order)}
        tiers = [[numbers[a] for a in tier] for tier in row["tiers"] or []]
        stated = recorded_stated_strengths(row["strengths"] or [], row["stated_strengths"])
        restored = RankingInput.from_draft(len(order), {"tiers": tiers, "stated_strengths": stated})
        self.show_prompt(row["prompt_id"], restore=restored, order=order)
        self.details = JudgementDetails.from_judgement(row)
        self._refresh()


def _texts_in_order(prompt: Prompt, order: list[int]) -> tuple[str, ...]:
    texts = {answer.id: answer.text for answer in prompt.answers}
    return tuple(texts[answer_id] for answer_id in order)
