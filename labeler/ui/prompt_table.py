"""The Browse tab's table of prompts: a Qt item model over the ids a filter kept, reading its rows a
page at a time as the view asks for them (store.browsing.prompt_rows), so a 100,000-prompt project
costs a list of ids and the rows on screen, never a widget or a string per prompt."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from labeler.store import Store
from labeler.store.browsing import PromptRow, prompt_rows

PAGE = 200  # rows read at once: a screenful or two
PAGES_KEPT = 20
COLUMNS = ("Prompt", "Text", "Round", "Answers", "Judgements", "Flagged", "Last judged")


class PromptTableModel(QAbstractTableModel):
    def __init__(self, store: Store, parent=None):
        super().__init__(parent)
        self.store = store
        self.ids: list[int] = []
        self.pages: dict[int, list[PromptRow]] = {}  # page number -> its rows, the latest read last

    def show_ids(self, prompt_ids: list[int]) -> None:
        """Show these prompts (what a filter kept), reading nothing yet."""
        self.beginResetModel()
        self.ids = prompt_ids
        self.pages.clear()
        self.endResetModel()

    def prompt_id(self, row: int) -> int:
        return self.ids[row]

    def row_of(self, prompt_id: int) -> int | None:
        try:
            return self.ids.index(prompt_id)
        except ValueError:
            return None

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in (2, 3, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        row = self._row(index.row())
        if row is None:
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.title if index.column() == 1 else None
        return (
            row.external_id or str(row.id),
            row.title,
            row.round,
            row.answers,
            row.status,
            row.flagged or "",
            (row.last_judged or "")[:16].replace("T", " "),
        )[index.column()]

    def _row(self, row: int) -> PromptRow | None:
        page = row // PAGE
        if page not in self.pages:
            if len(self.pages) >= PAGES_KEPT:
                del self.pages[next(iter(self.pages))]
            self.pages[page] = prompt_rows(self.store, self.ids[page * PAGE : (page + 1) * PAGE])
        rows = self.pages[page]
        offset = row - page * PAGE
        # A prompt gone from the file since the filter ran (never, today: prompts are not deleted).
        return rows[offset] if offset < len(rows) else None
