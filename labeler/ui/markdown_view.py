"""Answers rendered as markdown, safely: answer text is untrusted.

markdown-it renders with raw HTML turned off (an answer's <script> or <img> shows as text) and
images disabled; code blocks are highlighted by Pygments with inline styles (Qt's rich text has no
stylesheet classes). The view never loads a resource (no file, no network) and never follows a
link. Only the first MAX_RENDERED_CHARS are rendered at first: a million-character answer must not
freeze the window; "Show more" renders more on request.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QTextBrowser, QVBoxLayout, QWidget

MAX_RENDERED_CHARS = 20_000
_FORMATTER = HtmlFormatter(noclasses=True, nowrap=True, style="friendly")


def _highlighted(code: str, language: str, _attributes: str) -> str:
    try:
        lexer = get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    return f"<pre>{highlight(code, lexer, _FORMATTER)}</pre>"


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "highlight": _highlighted}).enable("table").disable("image")


def markdown_to_html(text: str) -> str:
    """Safe HTML for an untrusted markdown text (no raw HTML, no images)."""
    return _MARKDOWN.render(text)


class SafeTextBrowser(QTextBrowser):
    """A text browser that loads nothing: no local files, no network, whatever the HTML asks."""

    def loadResource(self, resource_type, url):
        return None


class MarkdownView(QWidget):
    """A rendered answer with a size cap and a "Show more" button past it."""

    def __init__(self, text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.text = text
        self.rendered_chars = 0
        self.browser = SafeTextBrowser()
        self.browser.setOpenLinks(False)
        self.browser.setOpenExternalLinks(False)
        self.browser.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys belong to the ranking
        self.cut_note = QLabel()
        self.more = QPushButton("Show more")
        self.more.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.more.clicked.connect(self.show_more)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.browser)
        layout.addWidget(self.cut_note)
        layout.addWidget(self.more)
        self.render(MAX_RENDERED_CHARS)

    def render(self, chars: int) -> None:
        self.rendered_chars = min(chars, len(self.text))
        cut = self.rendered_chars < len(self.text)
        self.browser.setHtml(markdown_to_html(self.text[: self.rendered_chars]))
        self.cut_note.setText(f"Showing {self.rendered_chars:,} of {len(self.text):,} characters." if cut else "")
        self.cut_note.setVisible(cut)
        self.more.setVisible(cut)

    def show_more(self) -> None:
        self.render(self.rendered_chars * 4)
