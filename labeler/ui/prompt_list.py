"""The list of a project's prompts, as a Qt item model that reads titles only for visible rows."""

from __future__ import annotations

import json
from functools import lru_cache

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from labeler.store import Store

TITLE_CHARS = 120


class PromptListModel(QAbstractListModel):
    """One row per prompt; a 100k-prompt project costs a list of ids, not 100k strings."""

    def __init__(self, store: Store, parent=None):
        super().__init__(parent)
        self._store = store
        self._ids = store.prompt_ids()
        self._title = lru_cache(maxsize=2048)(self._read_title)

    def prompt_id(self, row: int) -> int:
        return self._ids[row]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        return self._title(self._ids[index.row()])

    def _read_title(self, prompt_id: int) -> str:
        kind, content = self._store.conn.execute(
            "SELECT kind, substr(content, 1, 4000) FROM prompts WHERE id = ?", [prompt_id]
        ).fetchone()
        if kind == "chat":
            content = _last_user_turn(content)
        title = " ".join(content.split())
        return title[:TITLE_CHARS] + ("…" if len(title) > TITLE_CHARS else "")


def _last_user_turn(chat_json: str) -> str:
    """A chat's title is its last user message (the one the answers reply to), marked as a chat."""
    try:
        messages = json.loads(chat_json)
    except ValueError:  # cut off by the substr above: fall back to the raw text
        return chat_json
    user_turns = [m.get("content", "") for m in messages if m.get("role") == "user"]
    return "[chat] " + (user_turns[-1] if user_turns else "")
