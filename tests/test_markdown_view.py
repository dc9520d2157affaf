"""Answers rendered as markdown without trusting them: no HTML, no images, no loading, no links."""

import time

import pytest

from labeler.ui.markdown_view import MAX_RENDERED_CHARS, MarkdownView, markdown_to_html


def test_markdown_renders_and_raw_html_does_not():
    rendered = markdown_to_html("**bold** <script>alert(1)</script> <b>x</b>\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<strong>bold</strong>" in rendered
    assert "<script>" not in rendered
    assert "&lt;script&gt;" in rendered
    assert "<b>" not in rendered
    assert "<table>" in rendered
    assert markdown_to_html("Thanks a lot,\nDaniel") == "<p>Thanks a lot,<br />\nDaniel</p>\n"  # lines kept


def test_images_are_not_rendered_and_code_is_highlighted():
    rendered = markdown_to_html("![secret](file:///etc/passwd)\n\n```python\ndef f():\n    return 1\n```")
    assert "<img" not in rendered
    assert "<pre " in rendered
    assert 'style="color: #007020; font-weight: bold"' in rendered  # pygments colours, inline
    dark = markdown_to_html("```python\ndef f():\n    return 1\n```", dark=True)
    assert "#007020" not in dark  # a dark palette gets colours made for a dark background
    assert 'style="color: #C678DD"' in dark


def test_the_view_loads_nothing_and_follows_no_link(qtbot, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    view = MarkdownView(f"[click me]({secret.as_uri()}) and <img src='{secret}'>")
    qtbot.addWidget(view)
    assert view.browser.openLinks() is False
    assert view.browser.loadResource(0, secret.as_uri()) is None
    assert "TOP SECRET" not in view.browser.toPlainText()


def test_a_million_characters_are_rendered_only_up_to_the_cap(qtbot):
    view = MarkdownView("word " * 200_000)
    qtbot.addWidget(view)
    assert view.rendered_chars == MAX_RENDERED_CHARS
    assert not view.more.isHidden()
    assert f"Showing {MAX_RENDERED_CHARS:,} of 1,000,000 characters" in view.cut_note.text()
    view.show_more()
    assert view.rendered_chars == 4 * MAX_RENDERED_CHARS


# -- the hostile-text corpus: rendered inert, and quickly ------------------------------------------

SECRET = "TOP SECRET CONTENT"
HOSTILE = {
    "raw html": "<script>alert(1)</script><iframe src='http://example.com'></iframe><style>*{color:red}</style>"
    "<b onclick='x()'>bold?</b>",
    "html image of a local file": "<img src='file://{secret}'> <img src='{secret}'>",
    "markdown image of a local path": "![secret]({secret}) ![secret](file://{secret})",
    "file link": "[click me](file://{secret}) <file://{secret}> [rel]({secret})",
    "a 1M-character line": "x" * 1_000_000,
    "a 1M-character line of emphasis": "*a* " * 250_000,
    "a 1M-character line of brackets": "[" * 1_000_000,
    "deep nesting": ">" * 100_000 + " deep" + "\n" + "".join("  " * i + "- item\n" for i in range(3_000)),
}
RENDER_BUDGET_S = 0.5  # on a shared 2-core machine; each takes 10-120 ms there


@pytest.mark.parametrize("name", HOSTILE)
def test_the_hostile_corpus_is_rendered_inert_and_quickly(qtbot, tmp_path, name):
    from PySide6.QtWidgets import QApplication

    from labeler.ui.markdown_view import PromptView, SafeTextBrowser

    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    text = HOSTILE[name].replace("{secret}", str(secret))
    asked = []
    original = SafeTextBrowser.loadResource
    SafeTextBrowser.loadResource = lambda self, kind, url: asked.append(url) or original(self, kind, url)
    try:
        started = time.perf_counter()
        answer = MarkdownView(text)
        prompt = PromptView()
        prompt.show_prompt(text)
        chat = PromptView()
        chat.show_prompt([{"role": "user", "content": text}, {"role": "<b>assistant</b>", "content": text}])
        for view in (answer, prompt, chat):
            qtbot.addWidget(view)
            view.resize(600, 400)
            view.show()
        QApplication.processEvents()  # laid out and painted
        elapsed = time.perf_counter() - started
    finally:
        SafeTextBrowser.loadResource = original
    assert elapsed < RENDER_BUDGET_S, f"{name}: {elapsed:.2f} s"
    for browser in (answer.browser, prompt, chat):
        shown = browser.toHtml()
        assert SECRET not in browser.toPlainText()
        for tag in ("<img", "<script", "<iframe", "<b onclick"):
            assert tag not in shown
        if name == "raw html":
            assert "<script>alert(1)</script>" in browser.toPlainText()  # shown as the text it is
        assert browser.openLinks() is False
        assert browser.source().isEmpty()
    assert all(not url.isLocalFile() and url.scheme() not in ("http", "https") for url in asked), asked
    if len(text) > MAX_RENDERED_CHARS:
        assert not answer.more.isHidden()
        assert answer.rendered_chars <= MAX_RENDERED_CHARS


def test_a_clicked_link_goes_nowhere(qtbot, tmp_path):
    from PySide6.QtCore import QUrl

    view = MarkdownView(f"[click me]({(tmp_path / 'x').as_uri()})")
    qtbot.addWidget(view)
    view.browser.anchorClicked.emit(QUrl((tmp_path / "x").as_uri()))  # what a click on the link sends
    assert view.browser.source().isEmpty()
    assert "click me" in view.browser.toPlainText()


def test_the_cut_counts_markup_outside_code_blocks_only():
    from labeler.ui.markdown_view import MAX_MARKUP, render_cut, with_break_opportunities

    code = "```python\n" + "x = [a * b for a in c]\n" * 500 + "```\n"
    assert render_cut(code + "done") == len(code + "done")  # brackets in code are not parsed inline
    heavy = "**bold** " * 1_000
    cut = render_cut(heavy)
    assert heavy[:cut].count("*") == MAX_MARKUP
    assert render_cut("word " * 10_000) == MAX_RENDERED_CHARS
    assert with_break_opportunities("x" * 200).count("\u200b") == 2
    assert "\u200b" not in with_break_opportunities("a normal sentence with https://example.com/a/link")
