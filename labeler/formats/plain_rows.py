"""The commonest row by far, a text prompt with plain answers, taken in one step when every rule is
plainly met: the fast path of a big import (parse_row takes every other row).
"""

from __future__ import annotations

from typing import Any

from labeler.domain import MAX_ANSWERS, MIN_ANSWERS

# The keys of the commonest row by far: a text prompt with plain answers.
_PLAIN_ROW_KEYS = frozenset({"id", "prompt", "answers", "metadata"})


def plain_prompt_row(data: Any) -> tuple[str, list[tuple[str, str | None]], str | None, dict] | None:
    """(prompt, answers as (text, model), id, metadata) of a row of the commonest shape,
    {"id"?, "prompt": text, "answers": [text | {"text", "model"?}], "metadata"?}, when every rule
    parse_row applies to it is plainly met; None for any other row, good or bad (parse_row then
    takes it, and says what is wrong). Such answers have no generation settings.

    A big file is mostly such rows, and building parse_row's typed items for them is a quarter of
    reading it (BENCHMARKS.md). The tests check, on generated rows, that whatever this takes is what
    parse_row gives.
    """
    if type(data) is not dict or not data.keys() <= _PLAIN_ROW_KEYS:
        return None
    prompt, answers, external_id, metadata = (
        data.get("prompt"),
        data.get("answers"),
        data.get("id"),
        data.get("metadata"),
    )
    if type(prompt) is not str or not prompt.strip():
        return None
    if type(answers) is not list or not MIN_ANSWERS <= len(answers) <= MAX_ANSWERS:
        return None
    if external_id is not None and (type(external_id) is not str or not external_id.strip()):
        return None
    if metadata is not None and type(metadata) is not dict:
        return None
    plain = []
    for item in answers:
        if type(item) is str:
            text, model = item, None
        elif type(item) is dict and len(item) == 1 + ("model" in item):
            text, model = item.get("text"), item.get("model")
            if model is not None:
                if type(model) is not str:
                    return None
                model = model.strip() or None
        else:
            return None
        if type(text) is not str or not text or text.isspace():  # an empty answer: parse_row counts those
            return None
        plain.append((text, model))
    if len({text.strip() for text, _ in plain}) < len(plain):
        return None
    return prompt, plain, external_id, metadata or {}
