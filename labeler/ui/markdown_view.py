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
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QFrame,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

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
# A turn's gutter and name, for a light and a dark palette (an unknown role is drawn as "system").
ROLE_COLOURS = {
    False: {"user": "#2563eb", "assistant": "#059669", "system": "#6b7280"},
    True: {"user": "#60a5fa", "assistant": "#34d399", "system": "#9ca3af"},
}
FOLD_KEEP = 3  # turns a folded chat shows whole: the last user turn, the reply before it and the turn before
FOLDED_CHARS = 140  # of a folded turn, shown on its one line
UNFOLD_LINK = "unfold"
MIN_VISIBLE_LINES = 3  # of an answer, however small the window


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


def conversation_html(messages: list[dict[str, str]], dark: bool = False, folded: bool = False) -> str:
    """A chat as turns told apart by a coloured gutter and the role's name in its colour, each turn's
    content as safe markdown (each capped). Folded, the turns before the last FOLD_KEEP are one line
    each (the role and the start of the text), under a link that unfolds them (UNFOLD_LINK)."""
    hidden = len(messages) - FOLD_KEEP if folded and len(messages) > FOLD_KEEP + 1 else 0
    parts = []
    if hidden:
        parts.append(
            f"<p style='margin: 0 0 4px 0;'><a href='{UNFOLD_LINK}' style='color: {ROLE_COLOURS[dark]['user']};'>"
            f"{hidden} earlier turns in one line each: show them whole (T)</a></p>"
        )
        parts.extend(_turn_html(message, dark, one_line=True) for message in messages[:hidden])
    parts.extend(_turn_html(message, dark) for message in messages[hidden:])
    return "".join(parts)


def _turn_html(message: dict[str, str], dark: bool, one_line: bool = False) -> str:
    """One turn in a one-row table: a gutter in the role's colour, then the role and the text (Qt's
    rich text draws a cell's background, not a block's border, so the gutter is a narrow cell)."""
    role = str(message.get("role", "?"))
    colour = ROLE_COLOURS[dark].get(role, ROLE_COLOURS[dark]["system"])
    name = html.escape(ROLE_NAMES.get(role, role))
    content = str(message.get("content", ""))
    if one_line:
        line = " ".join(content.split())
        excerpt = html.escape(line[:FOLDED_CHARS] + ("…" if len(line) > FOLDED_CHARS else ""))
        body = f"<span style='color: {colour};'><b>{name}</b></span> <span style='color: gray;'>{excerpt}</span>"
        spacing = 2
    else:
        body = f"<p style='margin: 0; color: {colour};'><b>{name}</b></p>" + capped_html(content, dark)
        spacing = 10
    return (
        f"<table width='100%' cellspacing='0' cellpadding='0' style='margin-top: {spacing}px;'><tr>"
        f"<td width='4' bgcolor='{colour}'></td><td width='8'></td><td>{body}</td></tr></table>"
    )


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
        self._keep_lines_visible()

    def _keep_lines_visible(self) -> None:
        # Never squeezed to less than a few lines: a text view shorter than a line scrolls its first
        # line out of sight to show the cursor, and stays scrolled once it has room again.
        self.browser.setMinimumHeight(MIN_VISIBLE_LINES * self.fontMetrics().lineSpacing())

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
        if event.type() == QEvent.Type.FontChange:
            self._keep_lines_visible()
        super().changeEvent(event)


class PromptView(SafeTextBrowser):
    """The prompt: a text as markdown, a chat as a conversation whose earlier turns fold (T or the
    link unfolds them; a new prompt starts folded). It scrolls; its height is its owner's choice, and
    `content_height` says how tall it must be to show a prompt whole."""

    def __init__(self, fold_chats: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.fold_chats = fold_chats
        self.folded = fold_chats
        self.content: str | list[dict[str, str]] = ""
        # A chat is shown from its end (the answers reply to the last turn), and stays at the end as
        # the view is laid out or resized (Qt moves it back to the text cursor, at the top), until the
        # reader scrolls: the slider's actions are the reader's (keys, wheel, drag), its values not.
        self.at_end = False
        bar = self.verticalScrollBar()
        bar.actionTriggered.connect(lambda _action: setattr(self, "at_end", bar.sliderPosition() >= bar.maximum()))
        bar.rangeChanged.connect(lambda _low, high: bar.setValue(high) if self.at_end else None)
        bar.valueChanged.connect(lambda value: bar.setValue(bar.maximum()) if self.at_end else None)
        self.anchorClicked.connect(lambda url: self.toggle_folded() if url.toString() == UNFOLD_LINK else None)

    def show_prompt(self, content: str | list[dict[str, str]]) -> None:
        self.content = content
        self.folded = self.fold_chats
        self._show()

    def toggle_folded(self) -> bool:
        """Unfold a folded chat's earlier turns, or fold them again; False if there is nothing to fold."""
        if not self.can_fold(self.content):
            return False
        self.folded = not self.folded
        self._show()
        return True

    def can_fold(self, content: str | list[dict[str, str]]) -> bool:
        return self.fold_chats and not isinstance(content, str) and len(content) > FOLD_KEEP + 1

    def _show(self) -> None:
        self.setHtml(self._html(self.content, self.folded))
        self.at_end = not isinstance(self.content, str)
        if self.at_end:
            self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    def content_height(self, content: str | list[dict[str, str]] | None = None) -> int:
        """The height that shows `content` (default: the prompt shown) whole at this width, found
        without showing it: the labelling view sizes the next task's cards while the annotator reads."""
        if content is None:
            return int(self.document().size().height()) + 2 * self.frameWidth() + 4
        document = QTextDocument()
        document.setDefaultFont(self.document().defaultFont())
        document.setDocumentMargin(self.document().documentMargin())
        document.setHtml(self._html(content, self.fold_chats))  # a new prompt is shown folded
        document.setTextWidth(self.viewport().width())
        return int(document.size().height()) + 2 * self.frameWidth() + 4

    def scroll_page(self, pages: int) -> None:
        """PgUp / PgDn: a page of the prompt up or down."""
        scroll_page(self, pages)

    def _html(self, content: str | list[dict[str, str]], folded: bool) -> str:
        dark = is_dark(self.palette())
        return capped_html(content, dark) if isinstance(content, str) else conversation_html(content, dark, folded)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange) and self.content:
            self._show()
        super().changeEvent(event)


def scroll_page(view: QAbstractScrollArea, pages: int) -> None:
    """Scroll a view by whole pages (negative: up), as PgUp / PgDn would if it had the focus."""
    action = (
        QAbstractSlider.SliderAction.SliderPageStepAdd if pages > 0 else QAbstractSlider.SliderAction.SliderPageStepSub
    )
    for _ in range(abs(pages)):
        view.verticalScrollBar().triggerAction(action)
