"""Answers and prompts rendered as markdown, safely: their text is untrusted.

markdown-it renders with raw HTML turned off (an answer's <script> or <img> shows as text) and
images disabled; code blocks are highlighted by Pygments with inline styles (Qt's rich text has no
stylesheet classes), in colours for a light or a dark palette, whichever the window has. The view
never loads a resource (no file, no network) and never follows a link.

Hostile text must not freeze the window, and what costs is measured (bench notes in BENCHMARKS.md):
markdown-it spends about 0.1 ms per markup character outside code blocks ('[' * 2,000 takes
0.2 s), and Qt lays out a long run without a break opportunity slowly ('x' * 20,000: 125 ms). So
at first a view renders at most MAX_RENDERED_CHARS characters holding at most MAX_MARKUP markup
characters, and long unbroken runs get invisible break opportunities; "Show more" renders four
times as much on request.
"""

from __future__ import annotations

import html
import re
from functools import cache, lru_cache

from markdown_it import MarkdownIt
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from labeler.ui.style import is_dark

MAX_RENDERED_CHARS = 12_000
MAX_MARKUP = 600  # characters markdown-it parses as inline markup: about 60 ms at 0.1 ms each
MARKUP = re.compile(r"[*_\[\]!<>`&\\]")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
LONG_RUN = re.compile(r"\S{200,}")
BREAK_EVERY = 80
RENDERED_KEPT = 48  # rendered texts remembered: this task's and the next one's, with room to spare
CODE_STYLES = {False: "friendly", True: "one-dark"}  # Pygments styles for a light / a dark palette
CODE_BACKGROUNDS = {False: "#f3f4f6", True: "#1e2127"}
ROLE_NAMES = {"user": "User", "assistant": "Assistant", "system": "System"}


def render_cut(text: str, max_chars: int = MAX_RENDERED_CHARS, max_markup: int = MAX_MARKUP) -> int:
    """How much of `text` to render: at most `max_chars` characters with at most `max_markup` markup
    characters outside fenced code blocks (inside them nothing is parsed inline). Cut at a line end
    where one is near, so a cut rarely splits a paragraph."""
    budget, position, in_fence = max_markup, 0, False
    limit = min(len(text), max_chars)
    for line in text[:limit].splitlines(keepends=True):
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            found = MARKUP.findall(line)
            if len(found) > budget:
                over = [m.start() for m in MARKUP.finditer(line)][budget]
                return position + over if position == 0 or over > len(line) // 2 else position
            budget -= len(found)
        position += len(line)
    return limit


def with_break_opportunities(text: str) -> str:
    """Long runs without a space (a 20,000-character word) get a zero-width space every
    BREAK_EVERY characters: Qt lays those out slowly, and they cannot wrap otherwise."""
    return LONG_RUN.sub(
        lambda m: "\u200b".join(m[0][i : i + BREAK_EVERY] for i in range(0, len(m[0]), BREAK_EVERY)), text
    )


@cache
def _lexer(language: str):
    """A Pygments lexer by language name; looked up once per name (the first lookup of a name
    imports its module, up to a few hundred ms; warm_up does the common ones early). Pygments
    itself is imported on the first code block, not when the window opens."""
    from pygments.lexers import TextLexer, get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        return TextLexer()


COMMON_LANGUAGES = ("python", "javascript", "typescript", "bash", "sh", "sql", "json", "java", "c", "cpp")


def warm_up() -> None:
    """Load the common lexers (and render once) ahead of need: meant for a worker thread."""
    for language in COMMON_LANGUAGES:
        _lexer(language)
    markdown_to_html("*a* [b](c) `d`\n\n```python\nx = 1\n```")


@cache
def _formatter(dark: bool):
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(noclasses=True, nowrap=True, style=CODE_STYLES[dark])


@cache
def _markdown(dark: bool) -> MarkdownIt:
    def highlighted(code: str, language: str, _attributes: str) -> str:
        from pygments import highlight

        lexer = _lexer(language.strip().lower())
        # Wrapped rather than scrolled sideways: a card is narrow, and reading is the job.
        style = f"background-color: {CODE_BACKGROUNDS[dark]}; white-space: pre-wrap;"
        return f'<pre style="{style}">{highlight(code, lexer, _formatter(dark))}</pre>'

    # breaks: a single newline is a line break, as chat interfaces show it (an email's signature,
    # a poem's lines), not a space as strict CommonMark has it.
    options = {"html": False, "breaks": True, "highlight": highlighted}
    return MarkdownIt("commonmark", options).enable("table").disable("image")


def markdown_to_html(text: str, dark: bool = False) -> str:
    """Safe HTML for an untrusted markdown text (no raw HTML, no images), code coloured for a
    light or a dark background. Render a `render_cut` of a text that may be long."""
    return _markdown(dark).render(with_break_opportunities(text))


@lru_cache(maxsize=RENDERED_KEPT)
def rendered(text: str, dark: bool = False) -> str:
    """markdown_to_html, remembered for the last few texts: the labelling view renders the next
    task's texts while the annotator reads the current one (`prerender`), so showing it is quick."""
    return markdown_to_html(text, dark)


def prerender(texts: list[str], dark: bool) -> None:
    """Render what showing `texts` (answers, or a text prompt) will render, into the cache."""
    for text in texts:
        rendered(text[: render_cut(text)], dark)


def capped_html(text: str, dark: bool = False) -> str:
    """A text as safe markdown, cut where `render_cut` says, with a note saying so."""
    cut = render_cut(text)
    note = f"<p><i>… cut: {cut:,} of {len(text):,} characters shown</i></p>" if cut < len(text) else ""
    return rendered(text[:cut], dark) + note


def conversation_html(messages: list[dict[str, str]], dark: bool = False) -> str:
    """A chat as turns: each message's role as a heading, its content as safe markdown (each capped)."""
    turns = []
    for message in messages:
        role = html.escape(ROLE_NAMES.get(str(message.get("role", "?")), str(message.get("role", "?"))))
        turns.append(
            f"<p style='margin-top: 10px; margin-bottom: 0;'><b>{role}</b></p>"
            + capped_html(str(message.get("content", "")), dark)
        )
    return "".join(turns)


class SafeTextBrowser(QTextBrowser):
    """A text browser that loads nothing: no local files, no network, whatever the HTML asks."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys belong to the ranking

    def loadResource(self, resource_type, url):
        return None


class MarkdownView(QWidget):
    """A rendered answer with a size cap and a "Show more" button past it."""

    def __init__(self, text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.text = text
        self.rendered_chars = 0
        self.replaced = False  # showing other HTML (a word diff) instead of the rendered text
        self.browser = SafeTextBrowser()
        self.browser.setFrameShape(QFrame.Shape.NoFrame)
        self.cut_note = QLabel()
        self.more = QPushButton("Show more")
        self.more.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.more.clicked.connect(self.show_more)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.browser)
        layout.addWidget(self.cut_note)
        layout.addWidget(self.more)
        self.markup_budget = MAX_MARKUP
        self.render(MAX_RENDERED_CHARS)

    def render(self, chars: int) -> None:
        self.rendered_chars = render_cut(self.text, chars, self.markup_budget)
        self.replaced = False
        cut = self.rendered_chars < len(self.text)
        self.browser.setHtml(rendered(self.text[: self.rendered_chars], is_dark(self.palette())))
        self.cut_note.setText(f"Showing {self.rendered_chars:,} of {len(self.text):,} characters." if cut else "")
        self.cut_note.setVisible(cut)
        self.more.setVisible(cut)

    def set_text(self, text: str) -> None:
        """Show another text (the view is reused from task to task: making one costs more than this)."""
        self.text = text
        self.markup_budget = MAX_MARKUP
        self.render(MAX_RENDERED_CHARS)
        self.browser.verticalScrollBar().setValue(0)

    def show_html(self, safe_html: str) -> None:
        """Show other, already safe HTML (a word diff) in place of the rendered text."""
        self.replaced = True
        self.browser.setHtml(safe_html)

    def show_more(self) -> None:
        self.markup_budget *= 4
        self.render(max(self.rendered_chars * 4, MAX_RENDERED_CHARS))

    def changeEvent(self, event: QEvent) -> None:
        # The system switched between light and dark: colour the code for the new background.
        if event.type() == QEvent.Type.PaletteChange and not self.replaced and self.rendered_chars:
            self.render(self.rendered_chars)
        super().changeEvent(event)


class PromptView(SafeTextBrowser):
    """The prompt: a text as markdown, a chat as a conversation; as tall as its text up to
    `max_lines` lines of the current font, then it scrolls (with no `max_lines`, sized by its layout)."""

    def __init__(self, max_lines: int | None = 9, parent: QWidget | None = None):
        super().__init__(parent)
        self.max_lines = max_lines
        self.content: str | list[dict[str, str]] = ""
        if max_lines is not None:
            self.document().documentLayout().documentSizeChanged.connect(self._fit)

    def show_prompt(self, content: str | list[dict[str, str]]) -> None:
        self.content = content
        self.setHtml(self._html(content))
        if self.max_lines is not None:
            self._fit()
        if not isinstance(content, str):
            # The answers reply to the last turn: show the end of the chat, scroll up for the rest.
            self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    def height_for(self, content: str | list[dict[str, str]]) -> int:
        """The height this view will take to show `content`, found without showing it: the
        labelling view lays out the next task's cards, while the annotator reads, at the size they
        will have below the next prompt."""
        if self.max_lines is None:
            return self.height()
        document = QTextDocument()
        document.setDefaultFont(self.document().defaultFont())
        document.setDocumentMargin(self.document().documentMargin())
        document.setHtml(self._html(content))
        document.setTextWidth(self.viewport().width())
        return self._fitted_height(document.size().height(), content)

    def _html(self, content: str | list[dict[str, str]]) -> str:
        dark = is_dark(self.palette())
        return capped_html(content, dark) if isinstance(content, str) else conversation_html(content, dark)

    def _fitted_height(self, document_height: float, content: str | list[dict[str, str]]) -> int:
        wanted = int(document_height) + 2 * self.frameWidth() + 4
        lines = self.max_lines if isinstance(content, str) else self.max_lines + 4  # a chat needs more
        return max(min(wanted, lines * self.fontMetrics().lineSpacing()), self.fontMetrics().height() + 12)

    def _fit(self) -> None:
        self.setFixedHeight(self._fitted_height(self.document().size().height(), self.content))
        if not isinstance(self.content, str):
            self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange) and self.content:
            self.show_prompt(self.content)
        super().changeEvent(event)
