"""The ranking strip: the ranking so far as numbered chips, best tier first, and the answers not
placed yet. The same state the keys change, shown so it reads at a glance; a mouse user can drag
a chip onto a tier (a tie), into a gap between tiers (a tier of its own), or out of the ranking.

One widget that paints itself: the strip changes on every key, and rebuilding a row of child
widgets (each polished by the style sheet) cost 7-12 ms a key; laying out rectangles costs
nothing. The strip only reports drops (as signals); the labelling view changes the ranking, so a
drag is saved as a draft and refused while a save waits, exactly like a key.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QMimeData, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDrag,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QTextOption,
)
from PySide6.QtWidgets import QApplication, QFrame, QSizePolicy, QToolTip, QWidget

from labeler.ui.ranking_input import RankingInput
from labeler.ui.style import tier_colour

MIME_TYPE = "application/x-labeler-answer"
STRENGTH_MARKS = {1: ">", 2: "≫", 3: "⋙"}
STRENGTH_TIPS = {1: "slightly better than", 2: "better than", 3: "much better than"}


def ordinal(place: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th"."""
    suffix = "th" if 10 <= place % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(place % 10, "th")
    return f"{place}{suffix}"


def draw_text(painter: QPainter, rect: QRect, text: str, alignment: Qt.AlignmentFlag) -> None:
    """Text in a rectangle. (PySide6 6.12's drawText(QRect, flags, text) overload corrupts a
    reference count, which crashed the app after some hundred paints; this overload does not.)"""
    painter.drawText(QRectF(rect), text, QTextOption(alignment))


@dataclass
class Spot:
    """A place in the strip: a chip ("chip", its answer number), a tier ("tier", its index), a gap
    between tiers ("gap", its position: 0 is above the best), the answers not placed ("out"), or
    a word ("text")."""

    kind: str
    index: int
    rect: QRect
    text: str = ""
    tier: int | None = None  # a chip's tier (None: not placed)
    tip: str = ""


class RankingStrip(QFrame):
    """The chips of a RankingInput; emits where a dragged answer was dropped."""

    dropped_into_tier = Signal(int, int)  # answer number, tier (0-based): tie it there
    dropped_between = Signal(int, int)  # answer number, gap position (0 = above the best tier)
    dropped_out = Signal(int)  # answer number: take it out of the ranking

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("rankingStrip")
        self.setAcceptDrops(True)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.state = RankingInput(0)
        self.notes = ""
        self.spots: list[Spot] = []
        self.hovered: Spot | None = None  # the drop target under a drag
        self._pressed: tuple[int, QPoint] | None = None  # chip number and where it was pressed
        self._described = ""
        self.show_ranking(self.state, "")

    def text(self) -> str:
        """The ranking and its notes in words, as shown (also the strip's accessible description)."""
        return self._described

    def show_ranking(self, state: RankingInput, notes: str) -> None:
        self.state = RankingInput.from_draft(state.answer_count, state.to_draft())  # a copy
        self.notes = notes
        self.hovered = None
        self._described = f"Ranking: {state.describe() or 'type the answer numbers, best first'}" + (
            f"   {notes}" if notes else ""
        )
        self.setAccessibleDescription(self._described)
        self._lay_out()
        self.update()

    # -- geometry --------------------------------------------------------------------------------------

    def _fonts(self) -> tuple[QFont, QFont, QFont]:
        """The strip's fonts: words, chip numbers (bold), strength marks (large)."""
        bold = QFont(self.font())
        bold.setBold(True)
        big = QFont(bold)
        big.setPointSizeF(self.font().pointSizeF() * 1.45)
        return self.font(), bold, big

    def _metrics(self) -> tuple[QFontMetrics, int, int]:
        metrics = QFontMetrics(self.font())
        chip = round(metrics.height() * 1.7)
        return metrics, chip, max(6, metrics.height() // 2)

    def sizeHint(self) -> QSize:
        _, chip, pad = self._metrics()
        return QSize(400, chip + 2 * pad)

    def minimumSizeHint(self) -> QSize:
        _, chip, pad = self._metrics()
        return QSize(200, chip + 2 * pad)

    def resizeEvent(self, event) -> None:
        self._lay_out()
        super().resizeEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:
            self.updateGeometry()
            self._lay_out()
        super().changeEvent(event)

    def _lay_out(self) -> None:
        """Where every chip, tier, gap and word goes, left to right; the unplaced answers on the right."""
        metrics, chip, pad = self._metrics()
        top, height = pad, chip
        spots: list[Spot] = []
        x = pad

        def word(text: str) -> None:
            nonlocal x
            width = metrics.horizontalAdvance(text)
            spots.append(Spot("text", 0, QRect(x, top, width, height), text))
            x += width + pad

        word("Best")
        tiers = self.state.tiers
        # Wide enough for the largest strength mark, drawn in the large font, with room either side.
        gap_width = max(QFontMetrics(self._fonts()[2]).horizontalAdvance("⋙") + 2 * pad, chip // 2 + pad)
        for index, tier in enumerate(tiers):
            strength = self.state.strengths[index - 1] if index else None
            spots.append(self._gap(index, strength, QRect(x, top, gap_width, height)))
            x += gap_width
            start = x
            tier_tip = ordinal(index + 1) + (f": {len(tier)} answers tied" if len(tier) > 1 else "")
            chips = []
            for position, number in enumerate(tier):
                if position:
                    width = metrics.horizontalAdvance("=")
                    chips.append(Spot("text", 0, QRect(x + 2, top, width, height), "="))
                    x += width + 4
                chips.append(Spot("chip", number, QRect(x, top, chip, chip), str(number), index, tier_tip))
                x += chip
            spots.append(Spot("tier", index, QRect(start - 3, top - 3, x - start + 6, height + 6), tip=tier_tip))
            spots.extend(chips)
        spots.append(self._gap(len(tiers), None, QRect(x, top, gap_width, height)))
        x += gap_width
        if tiers:
            word("worst")

        # The answers not placed, from the right edge.
        unplaced = [n for n in range(1, self.state.answer_count + 1) if self.state.tier_of(n) is None]
        heading = "Not placed:" if unplaced else "All placed"
        out_width = metrics.horizontalAdvance(heading) + pad + len(unplaced) * (chip + 4) + pad
        right = self.width() - pad
        out = QRect(right - out_width, top - 3, out_width, height + 6)
        spots.append(Spot("out", 0, out, tip="Answers not placed yet: drag one here to take it out of the ranking"))
        heading_width = metrics.horizontalAdvance(heading) + 1
        spots.append(Spot("text", 0, QRect(out.left() + pad // 2, top, heading_width, height), heading))
        cx = out.left() + pad // 2 + metrics.horizontalAdvance(heading) + pad
        for number in unplaced:
            spots.append(Spot("chip", number, QRect(cx, top, chip, chip), str(number), None, "Not placed yet"))
            cx += chip + 4
        # The notes between the two, right-aligned, cut short if the strip is narrow.
        room = QRect(x + pad, top, max(out.left() - x - 2 * pad, 0), height)
        spots.append(Spot("notes", 0, room, metrics.elidedText(self.notes, Qt.TextElideMode.ElideRight, room.width())))
        self.spots = spots

    def _gap(self, position: int, strength: int | None, rect: QRect) -> Spot:
        tip = (
            f"{STRENGTH_TIPS[strength]} (Shift+Up / Shift+Down change the last one); drop an answer here to place it"
            if strength
            else "Drop an answer here to place it here"
        )
        return Spot("gap", position, rect, STRENGTH_MARKS.get(strength, ""), tip=tip)

    def spot(self, kind: str, index: int) -> Spot:
        """The spot of a kind and index: ("chip", 3) is answer 3's chip, ("gap", 0) the gap above the best."""
        return next(s for s in self.spots if s.kind == kind and s.index == index)

    def zone_at(self, position: QPoint) -> Spot | None:
        """Where a chip dropped at `position` lands: a chip's tier (or the unplaced answers), a gap,
        the unplaced answers; empty strip space right of the tiers is the gap below the worst."""
        for spot in self.spots:
            if spot.kind == "chip" and spot.rect.contains(position):
                return self.spot("tier", spot.tier) if spot.tier is not None else self.spot("out", 0)
        for kind in ("gap", "tier", "out"):
            for spot in self.spots:
                if spot.kind == kind and spot.rect.adjusted(-2, -4, 2, 4).contains(position):
                    return spot
        last_gap = [s for s in self.spots if s.kind == "gap"][-1]
        return last_gap if last_gap.rect.right() < position.x() < self.spot("out", 0).rect.left() else None

    def chip_at(self, position: QPoint) -> Spot | None:
        return next((s for s in self.spots if s.kind == "chip" and s.rect.contains(position)), None)

    # -- painting ------------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)  # the frame, from the style sheet
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text_colour = palette.color(QPalette.ColorRole.Text)
        _, bold, big = self._fonts()
        if self.hovered is not None:
            pen = QPen(palette.color(QPalette.ColorRole.Highlight), 1, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(palette.color(QPalette.ColorRole.AlternateBase))
            painter.drawRoundedRect(self.hovered.rect.adjusted(0, -2, 0, 2), 5, 5)
        for spot in self.spots:
            if spot.kind == "chip":
                if spot.tier is None:
                    painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1))
                    painter.setBrush(palette.color(QPalette.ColorRole.Button))
                    painter.drawRoundedRect(spot.rect.adjusted(0, 0, -1, -1), 4, 4)
                    painter.setPen(palette.color(QPalette.ColorRole.ButtonText))
                else:
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(QColor(tier_colour(spot.tier)))
                    painter.drawRoundedRect(spot.rect, 4, 4)
                    painter.setPen(QColor("white"))
                painter.setFont(bold)
                draw_text(painter, spot.rect, spot.text, Qt.AlignmentFlag.AlignCenter)
            elif spot.kind in ("text", "gap", "notes") and spot.text:
                painter.setPen(text_colour)
                painter.setFont(big if spot.kind == "gap" else self.font())
                align = Qt.AlignmentFlag.AlignRight if spot.kind == "notes" else Qt.AlignmentFlag.AlignCenter
                draw_text(painter, spot.rect, spot.text, align | Qt.AlignmentFlag.AlignVCenter)
        painter.end()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            spot = self.chip_at(event.pos()) or self.zone_at(event.pos())
            if spot is not None and spot.tip:
                QToolTip.showText(event.globalPos(), spot.tip, self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)

    # -- dragging a chip -------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        chip = self.chip_at(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and chip is not None:
            self._pressed = (chip.index, event.position().toPoint())
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        over_chip = self.chip_at(event.position().toPoint()) is not None
        self.setCursor(Qt.CursorShape.OpenHandCursor if over_chip else Qt.CursorShape.ArrowCursor)
        if self._pressed is None or not event.buttons() & Qt.MouseButton.LeftButton:
            return
        number, pressed_at = self._pressed
        if (event.position().toPoint() - pressed_at).manhattanLength() < QApplication.startDragDistance():
            return
        self._pressed = None
        chip = self.spot("chip", number)
        drag = QDrag(self)
        mime = QMimeData()
        mime.setData(MIME_TYPE, str(number).encode())
        drag.setMimeData(mime)
        picture = QPixmap(chip.rect.size() * self.devicePixelRatio())
        picture.setDevicePixelRatio(self.devicePixelRatio())
        picture.fill(Qt.GlobalColor.transparent)
        self.render(picture, QPoint(), chip.rect)
        drag.setPixmap(picture)
        drag.setHotSpot(pressed_at - chip.rect.topLeft())
        drag.exec(Qt.DropAction.MoveAction)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._pressed = None
        super().mouseReleaseEvent(event)

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

    def _hover(self, zone: Spot | None) -> None:
        if zone is not self.hovered:
            self.hovered = zone
            self.update()
