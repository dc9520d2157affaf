"""The `?` overlay: every key, laid over the labelling view, generated from the action tables.

Any key or click closes it. While it is up, the labelling view disables its shortcuts, so the key
that closes it does not also rank an answer.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from labeler.ui.actions import LABELLING_COMMANDS, WINDOW_COMMANDS, keyboard_help_rows

# The command groups of the action tables, column by column.
COLUMNS = (("Ranking", "Going back"), ("Judging", "Project"), ("Viewing",))


def _label(text: str, name: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    if name:
        label.setObjectName(name)
    return label


class HelpOverlay(QWidget):
    closed = Signal()

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        panel = QFrame()
        panel.setObjectName("helpPanel")
        columns = QHBoxLayout(panel)
        columns.setSpacing(32)
        commands = LABELLING_COMMANDS + WINDOW_COMMANDS
        self.rows = []
        for groups in COLUMNS:
            grid = QGridLayout()
            grid.setHorizontalSpacing(10)
            grid.setVerticalSpacing(3)
            for group in groups:
                if grid.count():
                    grid.setRowMinimumHeight(grid.rowCount(), 10)  # a gap between groups
                grid.addWidget(_label(group, "helpTitle"), grid.rowCount(), 0, 1, 2)
                for keys, tip in keyboard_help_rows(tuple(c for c in commands if c.group == group)):
                    row = grid.rowCount()
                    grid.addWidget(_label(keys, "keycap"), row, 0, Qt.AlignmentFlag.AlignRight)
                    described = _label(tip)
                    described.setWordWrap(True)
                    grid.addWidget(described, row, 1)
                    self.rows.append((keys, tip))
            grid.setRowStretch(grid.rowCount(), 1)
            columns.addLayout(grid)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        centred = QHBoxLayout()
        centred.addStretch(1)
        centred.addWidget(panel)
        centred.addStretch(1)
        outer.addLayout(centred)
        outer.addWidget(_label("Any key closes this", "helpFoot"), alignment=Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(1)
        parent.installEventFilter(self)
        self.hide()

    def open(self) -> None:
        self.setGeometry(self.parentWidget().rect())
        self.raise_()
        self.show()
        self.setFocus()

    def close_overlay(self) -> None:
        if self.isVisible():
            self.hide()
            self.closed.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.parentWidget().rect())
        return False

    def paintEvent(self, event: QPaintEvent) -> None:
        QPainter(self).fillRect(self.rect(), QColor(0, 0, 0, 150))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self.close_overlay()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.close_overlay()
