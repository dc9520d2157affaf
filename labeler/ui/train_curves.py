"""Live curves of a run's step events, one small plot per figure (pyqtgraph), one above the other (the
panel is a narrow dock beside the task).

A point costs an append; the plots are redrawn at most REDRAW_MS apart, from a timer, so a run that
streams many events a second costs the GUI thread a list append per event, not a repaint.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QVBoxLayout, QWidget

REDRAW_MS = 250
# What each command's step events carry that is worth watching, and the axis title for each.
FIGURES = {
    "reward": {"loss": "loss", "accuracy": "accuracy (training pairs)"},
    "sft": {"loss": "loss"},
    "ppo": {"score": "score", "kl": "KL", "entropy": "entropy"},
}


class TrainCurves(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setMinimumHeight(140)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plots)
        self.points: dict[str, tuple[list[float], list[float]]] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._dirty = False
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self.redraw)
        self._redraw_timer.start()
        self.show_figures("reward")

    def show_figures(self, command: str) -> None:
        """Empty plots for the command's figures (none for generate and score)."""
        self.plots.clear()
        self.points, self.curves = {}, {}
        palette = self.palette()
        self.plots.setBackground(palette.color(QPalette.ColorRole.Base))
        ink = palette.color(QPalette.ColorRole.Text)
        line = pg.mkPen(palette.color(QPalette.ColorRole.Highlight), width=2)
        for row, (name, title) in enumerate(FIGURES.get(command, {}).items()):
            plot = self.plots.addPlot(row=row, col=0)
            plot.setTitle(title, color=ink, size="9pt")
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.showGrid(x=True, y=True, alpha=0.2)
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTextPen(ink)
                plot.getAxis(axis).setPen(ink)
            self.points[name] = ([], [])
            self.curves[name] = plot.plot(pen=line)
        self.plots.setVisible(bool(self.curves))

    def add_step(self, event: dict) -> None:
        """A step event's figures as points at its step; a missing or non-finite figure is no point."""
        step = event.get("step")
        if not isinstance(step, int | float):
            return
        for name, (steps, values) in self.points.items():
            value = event.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                steps.append(step)
                values.append(value)
                self._dirty = True

    def point_count(self, name: str) -> int:
        return len(self.points[name][0]) if name in self.points else 0

    def redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        for name, (steps, values) in self.points.items():
            self.curves[name].setData(steps, values)
