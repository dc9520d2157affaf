"""A word-level diff of two answers, for comparing a pair side by side.

difflib's SequenceMatcher over words (whitespace kept with each word), rendered as escaped HTML:
words only in this answer are highlighted, so the difference between two near-identical answers
jumps out. Both texts are untrusted: every word is escaped, no markup of theirs is interpreted.
"""

from __future__ import annotations

import html
import re
from difflib import SequenceMatcher

from labeler.ui.markdown_view import with_break_opportunities

_WORDS = re.compile(r"\S+\s*|\s+")
# A highlight that paints its own text colour, so it reads on a light or a dark palette.
MARK = '<span style="background-color: #ffe066; color: #000000;">{}</span>'


def _words(text: str) -> list[str]:
    return _WORDS.findall(text)


def diff_html(text: str, other: str) -> tuple[str, str]:
    """HTML for `text` and for `other`, each with the words the other lacks highlighted."""
    first, second = _words(with_break_opportunities(text)), _words(with_break_opportunities(other))
    left, right = [], []
    for operation, a1, a2, b1, b2 in SequenceMatcher(None, first, second, autojunk=False).get_opcodes():
        left_part = html.escape("".join(first[a1:a2]))
        right_part = html.escape("".join(second[b1:b2]))
        if operation == "equal":
            left.append(left_part)
            right.append(right_part)
        else:
            left.append(MARK.format(left_part) if left_part else "")
            right.append(MARK.format(right_part) if right_part else "")
    as_pre = '<pre style="white-space: pre-wrap; font-family: sans-serif;">{}</pre>'
    return as_pre.format("".join(left)), as_pre.format("".join(right))
