"""A row's prompt (a text, or a chat as messages) and its answers, with the id and metadata that come
with them, by the importer's rules (see labeler.formats.rows for the rules in words).
"""

from __future__ import annotations

import json
from typing import Any

from labeler.domain import MAX_ANSWERS, MIN_ANSWERS
from labeler.formats.row_fields import is_whole
from labeler.formats.row_items import ImportedAnswer, Message, RowError
from labeler.formats.strict_json import describe_json_type

ROLES = ("system", "user", "assistant")


def parse_prompt(value: Any) -> str | tuple[Message, ...]:
    """A row's prompt (a text, or a chat as messages) by the importer's rules; RowError says what is wrong."""
    if value is None:
        raise RowError("the prompt is missing")
    if isinstance(value, str):
        if not value.strip():
            raise RowError("the prompt is empty")
        return value
    if isinstance(value, list):
        return prompt_chat(value, "the prompt")
    raise RowError(f"the prompt must be text or a list of chat messages, got {describe_json_type(value)}")


def prompt_chat(messages: list, what: str) -> tuple[Message, ...]:
    """A chat that is a prompt: unlike an answer, it must say something."""
    chat = chat_messages(messages, what)
    if not any(message["content"].strip() for message in chat):
        raise RowError(f"{what} is empty")
    return chat


def chat_messages(messages: list, what: str) -> tuple[Message, ...]:
    if not messages:
        raise RowError(f"{what} is an empty chat")
    chat = []
    for number, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise RowError(f"message {number} of {what} must be an object, got {describe_json_type(message)}")
        # A parquet struct column gives every message every field, the unused ones null.
        keys = sorted(key for key, item in message.items() if item is not None)
        if keys != ["content", "role"]:
            raise RowError(f"message {number} of {what} must have exactly 'role' and 'content', got {keys}")
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise RowError(f"message {number} of {what} has role {role!r}; roles are {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise RowError(f"the content of message {number} of {what} must be text, got {describe_json_type(content)}")
        chat.append({"role": role, "content": content})
    return tuple(chat)


def parse_answers(value: Any) -> tuple[ImportedAnswer, ...]:
    if not isinstance(value, list):
        raise RowError(f"answers must be a list, got {describe_json_type(value)}")
    if not MIN_ANSWERS <= len(value) <= MAX_ANSWERS:
        raise RowError(f"{MIN_ANSWERS} to {MAX_ANSWERS} answers, got {len(value)}")
    answers = tuple([_answer(item, number) for number, item in enumerate(value, 1)])
    # Two answers that read the same cannot be ranked against each other (two empty ones neither).
    if len({answer.text.strip() for answer in answers}) < len(answers):
        first_with_text: dict[str, int] = {}
        for number, answer in enumerate(answers, 1):
            earlier = first_with_text.setdefault(answer.text.strip(), number)
            if earlier != number:
                both_empty = " (both empty)" if not answer.text.strip() else ""
                raise RowError(f"answers {earlier} and {number} are the same text{both_empty}")
    return answers


def _answer(item: Any, number: int) -> ImportedAnswer:
    if isinstance(item, str):
        text, model, generation = item, None, {}
    elif isinstance(item, dict):
        if "text" not in item:
            raise RowError(f"answer {number} has no 'text'")
        text, model = item["text"], item.get("model")
        if len(item) == 1 + ("model" in item):  # the common case: no settings (a shortcut, same result)
            generation = {}
        else:
            generation = {
                key: value for key, value in item.items() if key not in ("text", "model") and value is not None
            }
    else:
        raise RowError(f"answer {number} must be text or an object with 'text', got {describe_json_type(item)}")
    if not isinstance(text, str):
        raise RowError(f"the text of answer {number} must be text, got {describe_json_type(text)}")
    if model is not None:
        if not isinstance(model, str):
            raise RowError(f"the model of answer {number} must be text, got {describe_json_type(model)}")
        model = model.strip() or None
    return ImportedAnswer(text, model, generation)


def parse_external_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) and not is_whole(value):
        raise RowError(f"id must be text or a whole number, got {describe_json_type(value)}")
    text = str(value)
    if not text.strip():
        raise RowError("the id is empty")
    return text


def parse_metadata(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RowError(f"metadata must be an object, got {describe_json_type(value)}")
    return value


def require_json(value: dict, what: str) -> None:
    if value:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise RowError(f"{what} must hold only JSON values: {err}") from None
