"""The prompt above, the ranking strip and the answers below, with a border the annotator can drag.

The prompt takes the height its text needs, up to `share` of the two, or more where the answers
are short enough to leave room; the answers get the rest. A drag sets the share (the window keeps it
in QSettings), so a short prompt never takes the answers' room, and a 13-turn chat gets as much as the
annotator chose to give it, and all that short answers leave.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QSplitter, QWidget

from labeler.ui.markdown_view import PromptView

DEFAULT_PROMPT_SHARE = 0.45
MIN_PROMPT_SHARE, MAX_PROMPT_SHARE = 0.1, 0.85  # a drag never hides the prompt or the answers


class PromptSplitter(QSplitter):
    share_changed = Signal(float)  # the annotator dragged the border

    def __init__(
        self, prompt_view: PromptView, below: QWidget, answers_need: Callable[[], int], parent: QWidget | None = None
    ):
        """`answers_need()`: the height below the border that shows the answers shown now whole."""
        super().__init__(Qt.Orientation.Vertical, parent)
        self.prompt_view = prompt_view
        self.answers_need = answers_need
        self.share = DEFAULT_PROMPT_SHARE
        self.setChildrenCollapsible(False)
        self.addWidget(prompt_view)
        self.addWidget(below)
        self.setStretchFactor(1, 1)
        self.splitterMoved.connect(self._dragged)
        # Its text laid out anew (another prompt, width, font or fold): its height follows.
        prompt_view.document().documentLayout().documentSizeChanged.connect(self.fit)

    def set_share(self, share: float) -> None:
        self.share = _bounded(share)
        self.fit()

    def fit(self) -> None:
        """Give the prompt the height its text needs, up to its share; the answers get the rest."""
        total = sum(self.sizes())
        if total <= 0:
            return  # not laid out yet: resizeEvent fits it
        # A text view's own minimum (about four lines) would overrule a one-line prompt's height.
        self.prompt_view.setMinimumHeight(self._least_height())
        height = self.prompt_height(self.prompt_view.content_height(), self.answers_need())
        self.setSizes([height, total - height])

    def prompt_height(self, content_height: int, answers_need: int) -> int:
        """The height a prompt whose text needs `content_height` gets above answers that need `answers_need`."""
        total = sum(self.sizes())
        room = max(round(total * self.share), total - answers_need)
        return max(min(content_height, room), self._least_height())

    def _least_height(self) -> int:
        return self.prompt_view.fontMetrics().height() + 2 * self.prompt_view.frameWidth() + 12

    def _dragged(self, position: int, _index: int) -> None:
        total = sum(self.sizes())
        if total > 0:
            self.share = _bounded(position / total)
            self.share_changed.emit(self.share)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit()


def _bounded(share: float) -> float:
    return min(max(share, MIN_PROMPT_SHARE), MAX_PROMPT_SHARE)
