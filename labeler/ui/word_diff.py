"""A word-level diff of two answers, for comparing a pair side by side.

difflib's SequenceMatcher over words (whitespace kept with each word), rendered as escaped HTML:
words only in this answer are highlighted, so the difference between two near-identical answers
jumps out. Both texts are untrusted: every word is escaped, no markup of theirs is interpreted.

Two answers that are mostly different (real chat replies usually are) share only short runs by
chance ("the", "it is a"): highlighting around them marks nearly every word, which says nothing. So
unless the answers are alike overall, only common runs of MIN_COMMON_RUN words or more count as
shared; when none is left, there is no diff to show and the caller says so.
"""

from __future__ import annotations

import html
import re
from difflib import SequenceMatcher

from labeler.ui.markdown_view import with_break_opportunities

_WORDS = re.compile(r"\S+\s*|\s+")
# A highlight that paints its own text colour, so it reads on a light or a dark palette.
MARK = '<span style="background-color: #ffe066; color: #000000;">{}</span>'
MIN_COMMON_RUN = 4  # words, in answers that are not alike overall
ALIKE = 0.5  # SequenceMatcher's ratio from which two answers are edits of each other: every common word counts


def _words(text: str) -> list[str]:
    return _WORDS.findall(text)


def diff_html(text: str, other: str) -> tuple[str, str] | None:
    """HTML for `text` and for `other`, each with the words the other lacks highlighted; None when
    the two share no run of words worth showing (see the module's docstring)."""
    first, second = _words(with_break_opportunities(text)), _words(with_break_opportunities(other))
    matcher = SequenceMatcher(None, first, second, autojunk=False)
    least_run = 1 if matcher.ratio() >= ALIKE else MIN_COMMON_RUN
    shared = [
        (a, b, size)
        for a, b, size in matcher.get_matching_blocks()
        if size and sum(not word.isspace() for word in first[a : a + size]) >= least_run
    ]
    if not shared:
        return None
    left, right = [], []
    a_at = b_at = 0
    for a, b, size in shared:
        left.append(_marked(first[a_at:a]))
        right.append(_marked(second[b_at:b]))
        left.append(html.escape("".join(first[a : a + size])))
        right.append(html.escape("".join(second[b : b + size])))
        a_at, b_at = a + size, b + size
    left.append(_marked(first[a_at:]))
    right.append(_marked(second[b_at:]))
    as_pre = '<pre style="white-space: pre-wrap; font-family: sans-serif;">{}</pre>'
    return as_pre.format("".join(left)), as_pre.format("".join(right))


def _marked(words: list[str]) -> str:
    return MARK.format(html.escape("".join(words))) if words else ""
