"""Answers rendered as markdown without trusting them: no HTML, no images, no loading, no links."""

from labeler.ui.markdown_view import MAX_RENDERED_CHARS, MarkdownView, markdown_to_html


def test_markdown_renders_and_raw_html_does_not():
    rendered = markdown_to_html("**bold** <script>alert(1)</script> <b>x</b>\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<strong>bold</strong>" in rendered
    assert "<script>" not in rendered
    assert "&lt;script&gt;" in rendered
    assert "<b>" not in rendered
    assert "<table>" in rendered


def test_images_are_not_rendered_and_code_is_highlighted():
    rendered = markdown_to_html("![secret](file:///etc/passwd)\n\n```python\ndef f():\n    return 1\n```")
    assert "<img" not in rendered
    assert "<pre>" in rendered
    assert 'style="' in rendered  # pygments colours, inline


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
    assert "Showing 20,000 of 1,000,000 characters" in view.cut_note.text()
    view.show_more()
    assert view.rendered_chars == 4 * MAX_RENDERED_CHARS
