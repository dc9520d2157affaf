"""The answer cards: each answer numbered, its place in the ranking shown as a badge, its text
rendered (an empty answer as a visible "(empty answer)"); and the deck that lays out one task's cards
in a grid."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from labeler.ui.markdown_view import MarkdownView
from labeler.ui.ranking_strip import draw_text, ordinal
from labeler.ui.style import tier_colour

EMPTY_ANSWER = "(empty answer)"


class TierBadge(QLabel):
    """A card's place in the ranking: white on the tier's colour, or "not placed" in a dashed box.
    Painted here (not by the style sheet) so a change costs a repaint, not a re-polish."""

    def __init__(self):
        super().__init__()
        self.tier: int | None = None
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def set_tier(self, tier: int | None, text: str) -> None:
        self.tier = tier
        bold = self.font()
        bold.setBold(tier is not None)
        self.setFont(bold)
        self.setText(text)

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        return QSize(metrics.horizontalAdvance(self.text()) + 2 * metrics.height(), round(metrics.height() * 1.5))

    minimumSizeHint = sizeHint

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        box = self.rect().adjusted(1, 1, -1, -1)
        if self.tier is None:
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(box, 4, 4)
            painter.setPen(self.palette().color(QPalette.ColorRole.Text))
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(tier_colour(self.tier)))
            painter.drawRoundedRect(box, 4, 4)
            painter.setPen(QColor("white"))
        draw_text(painter, box, self.text(), Qt.AlignmentFlag.AlignCenter)
        painter.end()


def is_empty(text: str) -> bool:
    """An answer with nothing to read: "" or only whitespace."""
    return not text or text.isspace()


class EmptyAnswerNote(QLabel):
    """What a card shows in place of an empty answer: the answer is real (a policy can say nothing,
    and an annotator may prefer that) and must be seen to be ranked, not look like a card that failed
    to load. Italic, in the palette's placeholder colour, so it does not read as the answer's text."""

    def __init__(self):
        super().__init__(EMPTY_ANSWER)
        self.setObjectName("emptyAnswer")
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setMargin(4)  # the text view's document margin: the note sits where an answer's text would
        self.setToolTip("This answer is empty: the model said nothing. Rank it like any other.")
        # Its own sheet, on top of the window's: the colour follows the palette (light or dark).
        self.setStyleSheet("font-style: italic; color: palette(placeholder-text);")


class AnswerCard(QFrame):
    """One answer: its number (the key that places it) large, its place in the ranking as a badge in
    the tier's colour (the card's border too), the rendered text scrolling inside the card."""

    def __init__(self, number: int, text: str):
        super().__init__()
        self.setObjectName("answerCard")
        self.number = number
        self.tier: int | None = None
        self.number_label = QLabel(str(number))
        self.number_label.setObjectName("answerNumber")
        self.number_label.setToolTip(f"Press {number} to place this answer next")
        self.badge = TierBadge()
        self.notes = QLabel()
        self.notes.setTextFormat(Qt.TextFormat.PlainText)
        self.body = MarkdownView(text)
        self.empty_note = EmptyAnswerNote()
        header = QHBoxLayout()
        header.addWidget(self.number_label)
        header.addWidget(self.notes, stretch=1)
        header.addWidget(self.badge)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addLayout(header)
        layout.addWidget(self.body, stretch=1)
        layout.addWidget(self.empty_note, stretch=1)
        self._show_empty(is_empty(text))
        self.show_tier(None, tied=False)

    def set_text(self, text: str) -> None:
        """Show another answer (the card is reused from task to task)."""
        self.body.set_text(text)
        self._show_empty(is_empty(text))

    def _show_empty(self, empty: bool) -> None:
        self.body.setVisible(not empty)  # hidden, it still holds the answer's text as it is
        self.empty_note.setVisible(empty)

    def show_tier(self, tier: int | None, tied: bool, notes: str = "") -> None:
        self.badge.set_tier(tier, "not placed" if tier is None else ("tied " if tied else "") + ordinal(tier + 1))
        self.notes.setText(notes)
        if tier != self.tier:
            self.tier = tier
            self.update()

    def spare_height(self) -> int:
        """How much shorter this card could be with its answer still shown whole (negative: it scrolls)."""
        if self.empty_note.isVisible():
            return self.empty_note.height() - self.empty_note.sizeHint().height()
        browser = self.body.browser
        if self.body.more.isVisible():
            return -1  # a cut answer: "Show more" has more to show, so it wants more room
        return browser.viewport().height() - round(browser.document().size().height())

    def paintEvent(self, event) -> None:
        # The card on the base colour, its border in the tier's colour once placed.
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = self.palette().color(QPalette.ColorRole.Mid) if self.tier is None else QColor(tier_colour(self.tier))
        painter.setPen(QPen(colour, 2))
        painter.setBrush(self.palette().color(QPalette.ColorRole.Base))
        painter.drawRoundedRect(self.rect().adjusted(1, 1, -1, -1), 6, 6)
        painter.end()


class CardDeck(QWidget):
    """One task's answer cards in a grid: K = 2 side by side, more in a grid that fits a laptop.

    Cards are made once and reused from task to task: making four cost ~20 ms a task.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.pool: list[AnswerCard] = []
        self.arrangement: tuple[int, int] = (0, 0)  # (cards shown, columns)
        self.texts: tuple[str, ...] = ()

    def cards(self) -> list[AnswerCard]:
        """The cards shown, answer 1 first."""
        return self.pool[: self.arrangement[0]]

    def show_texts(self, texts: tuple[str, ...]) -> None:
        """Show these answers, in this order, each rendered from the start (no "Show more", no diff)."""
        self.arrange(len(texts))
        for card, text in zip(self.pool, texts, strict=False):
            card.set_text(text)
        self.texts = texts

    def spare_height(self) -> int:
        """How much shorter the deck could be with every answer still shown whole: the prompt above may take
        it. The cards of a row share its height, and the rows share the deck's. Negative when an answer
        scrolls: the answers want more room than they have (not 0, which would say the split they have
        now is just right, whatever it is)."""
        count, columns = self.arrangement
        if not count:
            return 0
        rows = -(-count // columns)
        least = min(card.spare_height() for card in self.cards())
        return least * rows if least > 0 else least

    def arrange(self, count: int) -> None:
        columns = 2 if count <= 4 else 3
        if (count, columns) == self.arrangement:
            return
        while len(self.pool) < count:
            self.pool.append(AnswerCard(len(self.pool) + 1, ""))
        while self.grid.count():
            self.grid.takeAt(0)
        for index, card in enumerate(self.pool):
            if index < count:
                self.grid.addWidget(card, index // columns, index % columns)
                card.show()
            else:
                card.hide()
        self.arrangement = (count, columns)
        if not count:
            self.texts = ()


class DeckPair(QWidget):
    """Two decks of cards: the task shown, and the next task's cards laid out while the annotator
    reads, so showing the next task is a swap.

    Qt's QStackedWidget would do the swapping, but it hides the deck behind, and a hidden text view
    lays out its text only when shown (4 ms a task for four cards). Here the deck behind stays
    visible, placed just outside this widget where it is clipped: laid out, never painted. It keeps
    the size it was prepared at (`prepare_size`: the size it will have under the next prompt), so a
    swap only moves widgets; a text view laid out again at another width costs as much as a new one.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.decks = (CardDeck(self), CardDeck(self))
        self.front = 0

    @property
    def shown(self) -> CardDeck:
        return self.decks[self.front]

    @property
    def behind(self) -> CardDeck:
        return self.decks[1 - self.front]

    def swap(self) -> None:
        """Show the deck behind. Call `fit` once this widget has its new size."""
        changes_grid = self.shown.arrangement != self.behind.arrangement
        self.front = 1 - self.front
        self.shown.move(0, 0)
        self.behind.move(self.width() + 1, 0)  # outside: clipped, never painted
        if changes_grid:
            self.updateGeometry()  # the deck shown decides the size wanted

    def prepare_size(self, size: QSize) -> None:
        self.behind.resize(size)

    def fit(self) -> None:
        """Give the deck shown this widget's size (a no-op when it was prepared at that size)."""
        if self.shown.size() != self.size():
            self.shown.resize(self.size())

    def resizeEvent(self, event) -> None:
        self.fit()
        self.behind.move(self.width() + 1, 0)
        super().resizeEvent(event)

    def sizeHint(self) -> QSize:
        return self.shown.sizeHint()

    def minimumSizeHint(self) -> QSize:
        return self.shown.minimumSizeHint()
