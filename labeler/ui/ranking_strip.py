"""The ranking strip: the ranking so far as numbered chips, best tier first, and the answers not
placed yet. The same state the keys change, shown so it reads at a glance; a mouse user can drag
a chip onto a tier (a tie), into a gap between tiers (a tier of its own), or out of the ranking.

The strip only reports drops (as signals); the labelling view changes the ranking, so a drag is
saved as a draft and refused while a save waits, exactly like a key.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, Qt, Signal
from PySide6.QtGui import QDrag, QDragEnterEvent, QDragMoveEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication, QFrame, QHBoxLayout, QLabel, QSizePolicy, QWidget

from labeler.ui.ranking_input import RankingInput

MIME_TYPE = "application/x-labeler-answer"
STRENGTH_MARKS = {1: ">", 2: "≫", 3: "⋙"}
STRENGTH_TIPS = {1: "slightly better than", 2: "better than", 3: "much better than"}


def ordinal(place: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th"."""
    suffix = "th" if 10 <= place % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(place % 10, "th")
    return f"{place}{suffix}"


def restyle(widget: QWidget) -> None:
    """Re-apply the style sheet after a dynamic property it selects on has changed."""
    widget.style().unpolish(widget)
    widget.style().polish(widget)


class Chip(QLabel):
    """One answer's number, coloured by its tier; pressed and dragged, it carries its number."""

    def __init__(self, number: int, tier: int | None, parent: QWidget | None = None):
        super().__init__(str(number), parent)
        self.number = number
        self.setObjectName("chip")
        self.setProperty("tier", -1 if tier is None else tier)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setToolTip(f"Answer {number}: drag onto another answer to tie them, between answers to place it there")
        self._pressed_at: QPoint | None = None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._pressed_at = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pressed_at is None or not event.buttons() & Qt.MouseButton.LeftButton:
            return
        if (event.position().toPoint() - self._pressed_at).manhattanLength() < QApplication.startDragDistance():
            return
        self._pressed_at = None
        drag = QDrag(self)
        mime = QMimeData()
        mime.setData(MIME_TYPE, str(self.number).encode())
        drag.setMimeData(mime)
        drag.setPixmap(self.grab())
        drag.setHotSpot(event.position().toPoint())
        drag.exec(Qt.DropAction.MoveAction)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._pressed_at = None
        super().mouseReleaseEvent(event)


class DropZone(QFrame):
    """Where a chip can land: a tier (`kind` "tier"), a gap between tiers ("gap") or the
    answers not placed ("out"); `index` is the tier, or the gap's position (0 = above the best)."""

    def __init__(self, kind: str, index: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind = kind
        self.index = index
        self.setObjectName(f"{kind}Zone")
        self.setProperty("dropTarget", False)
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(3, 3, 3, 3)
        self.row.setSpacing(4)

    def set_drop_target(self, on: bool) -> None:
        if self.property("dropTarget") != on:
            self.setProperty("dropTarget", on)
            restyle(self)


class RankingStrip(QFrame):
    """The chips of a RankingInput; emits where a dragged answer was dropped."""

    dropped_into_tier = Signal(int, int)  # answer number, tier (0-based): tie it there
    dropped_between = Signal(int, int)  # answer number, gap position (0 = above the best tier)
    dropped_out = Signal(int)  # answer number: take it out of the ranking

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("rankingStrip")
        self.setAcceptDrops(True)
        self.zones: list[DropZone] = []
        self._described = ""
        self._hovered: DropZone | None = None
        self.layout_ = QHBoxLayout(self)
        self.layout_.setContentsMargins(6, 4, 6, 4)
        self.layout_.setSpacing(2)
        self.notes = QLabel()
        self.notes.setObjectName("stripNotes")
        self.notes.setTextFormat(Qt.TextFormat.PlainText)
        self.notes.setWordWrap(True)  # wraps rather than widening the window
        self.notes.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.notes.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.show_ranking(RankingInput(0), "")

    def text(self) -> str:
        """The ranking and its notes in words, as shown (also the strip's accessible description)."""
        return self._described

    def show_ranking(self, state: RankingInput, notes: str) -> None:
        while self.layout_.count():
            item = self.layout_.takeAt(0)
            if item.widget() is not None and item.widget() is not self.notes:
                item.widget().hide()
                item.widget().deleteLater()
        self.zones = []
        self._hovered = None
        best = QLabel("Best")
        best.setObjectName("stripEnd")
        self.layout_.addWidget(best)
        for index, tier in enumerate(state.tiers):
            self._add_gap(index, state.strengths[index - 1] if index else None)
            zone = self._add_zone("tier", index)
            for position, number in enumerate(tier):
                if position:
                    zone.row.addWidget(QLabel("="))  # tied, as it is typed
                zone.row.addWidget(Chip(number, index))
            zone.setToolTip(f"{ordinal(index + 1)}" + (f": {len(tier)} answers tied" if len(tier) > 1 else ""))
        self._add_gap(len(state.tiers), None)
        if state.tiers:
            worst = QLabel("worst")
            worst.setObjectName("stripEnd")
            self.layout_.addWidget(worst)
        self.layout_.addWidget(self.notes, stretch=1)
        self.notes.setText(notes)
        unplaced = [n for n in range(1, state.answer_count + 1) if state.tier_of(n) is None]
        out = self._add_zone("out", 0)
        out.setToolTip("Answers not placed yet: drag one here to take it out of the ranking")
        heading = QLabel("Not placed:" if unplaced else "All placed")
        heading.setObjectName("stripEnd")
        out.row.addWidget(heading)
        for number in unplaced:
            out.row.addWidget(Chip(number, None))
        self._described = f"Ranking: {state.describe() or 'type the answer numbers, best first'}" + (
            f"   {notes}" if notes else ""
        )
        self.setAccessibleDescription(self._described)

    def _add_zone(self, kind: str, index: int) -> DropZone:
        zone = DropZone(kind, index)
        self.layout_.addWidget(zone)
        self.zones.append(zone)
        return zone

    def _add_gap(self, position: int, strength: int | None) -> None:
        zone = self._add_zone("gap", position)
        mark = QLabel(STRENGTH_MARKS[strength] if strength else "")
        mark.setObjectName("strength")
        mark.setAlignment(Qt.AlignmentFlag.AlignCenter)
        zone.row.addWidget(mark)
        zone.setMinimumWidth(22)
        zone.setToolTip(
            f"{STRENGTH_TIPS[strength]} (Shift+Up / Shift+Down change the last one); drop an answer here to place it"
            if strength
            else "Drop an answer here to place it here"
        )

    # -- drops ---------------------------------------------------------------------------------------

    def zone_at(self, position: QPoint) -> DropZone | None:
        """The zone under `position` (strip coordinates); empty strip space right of the tiers is the
        gap below the worst tier."""
        child = self.childAt(position)
        while child is not None and child is not self:
            if isinstance(child, DropZone):
                return child
            child = child.parentWidget()
        gaps = [zone for zone in self.zones if zone.kind == "gap"]
        return gaps[-1] if gaps and position.x() > gaps[-1].geometry().right() else None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(MIME_TYPE):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        zone = self.zone_at(event.position().toPoint())
        self._hover(zone)
        if zone is not None and event.mimeData().hasFormat(MIME_TYPE):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        self._hover(None)

    def dropEvent(self, event: QDropEvent) -> None:
        self._hover(None)
        zone = self.zone_at(event.position().toPoint())
        data = bytes(event.mimeData().data(MIME_TYPE)).decode()
        if zone is None or not data.isdigit():
            event.ignore()
            return
        event.acceptProposedAction()
        number = int(data)
        if zone.kind == "tier":
            self.dropped_into_tier.emit(number, zone.index)
        elif zone.kind == "gap":
            self.dropped_between.emit(number, zone.index)
        else:
            self.dropped_out.emit(number)

    def _hover(self, zone: DropZone | None) -> None:
        if self._hovered is not None and self._hovered is not zone:
            self._hovered.set_drop_target(False)
        self._hovered = zone
        if zone is not None:
            zone.set_drop_target(True)
