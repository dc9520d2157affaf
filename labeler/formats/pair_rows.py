"""A pair row, in any of TRL's preference layouts (explicit or implicit prompt, text or chat messages),
Anthropic HH transcripts included: split into its prompt, chosen and rejected answers and margin.
"""

from __future__ import annotations

import re
from typing import Any

from labeler.formats.prompt_fields import chat_messages, parse_prompt, prompt_chat
from labeler.formats.row_fields import is_whole, parse_annotator, whole_float_as_int
from labeler.formats.row_items import ImportedPair, Message, RowError
from labeler.formats.strict_json import describe_json_type

HH_HUMAN = "\n\nHuman:"
HH_ASSISTANT = "\n\nAssistant:"
_HH_TURN = re.compile(r"\n\n(Human|Assistant):")


def parse_pair(data: dict) -> ImportedPair:
    chosen, rejected = data["chosen"], data["rejected"]
    if chosen == rejected:
        raise RowError("chosen and rejected are the same text")
    has_prompt = data.get("prompt") is not None
    transcripts = False  # Anthropic HH transcripts, whose prompt becomes a chat
    if isinstance(chosen, str) and isinstance(rejected, str):
        if has_prompt:
            prompt, chosen_text, rejected_text = parse_prompt(data["prompt"]), chosen, rejected
            if isinstance(prompt, str) and prompt.rstrip(" ").endswith(HH_ASSISTANT):
                # An HH transcript as an explicit prompt (as `labeler export --format trl` writes a chat): the
                # chat it stands for, and the answers without the space that follows "Assistant:".
                chat = _hh_chat(prompt.rstrip(" "))
                if chat is not None:
                    prompt, chosen_text, rejected_text, transcripts = chat, chosen.lstrip(), rejected.lstrip(), True
        else:
            prompt, chosen_text, rejected_text = _split_shared_text(chosen, rejected)
            transcripts = isinstance(prompt, tuple)
    elif isinstance(chosen, list) and isinstance(rejected, list):
        if has_prompt:
            prompt = parse_prompt(data["prompt"])
            chosen_text, rejected_text = (
                _assistant_text(chosen, "chosen"),
                _assistant_text(rejected, "rejected"),
            )
        else:
            prompt, chosen_text, rejected_text = _split_shared_messages(chosen, rejected)
    else:
        raise RowError(
            "chosen and rejected must both be text or both be lists of chat messages, got "
            f"{describe_json_type(chosen)} and {describe_json_type(rejected)}"
        )
    if chosen_text.strip() == rejected_text.strip():
        both_empty = " (both empty)" if not chosen_text.strip() else ""
        raise RowError(f"chosen and rejected are the same text{both_empty}")
    labelled = sum(map(_holds_a_speaker_label, (chosen_text, rejected_text))) if transcripts else 0
    return ImportedPair(
        prompt,
        chosen_text,
        rejected_text,
        _margin(data.get("margin")),
        parse_annotator(data.get("annotator")),
        answers_with_speaker_labels=labelled,
    )


def _holds_a_speaker_label(text: str) -> bool:
    """Whether an answer of an HH transcript holds "Human:" or "Assistant:" (with its blank line or not)."""
    return "Human:" in text or "Assistant:" in text


def _margin(value: Any) -> int | None:
    """The margin the row states, 0 included (TRL writes 0 for "no margin": stated, and kept as stated);
    None when the row gives none."""
    whole = whole_float_as_int(value)
    if whole is None:
        return None
    if not is_whole(whole) or whole < 0:
        raise RowError(f"margin must be a whole number, 0 or more, got {value!r}")
    return whole


def _assistant_text(messages: list, name: str) -> str:
    """The answer in a conversational pair: the content of its assistant message(s)."""
    chat = chat_messages(messages, name)
    for number, message in enumerate(chat, 1):
        if message["role"] != "assistant":
            raise RowError(f"{name} must hold assistant messages only; message {number} is from {message['role']!r}")
    return "\n\n".join(message["content"] for message in chat)


def _split_shared_messages(chosen: list, rejected: list) -> tuple[tuple[Message, ...], str, str]:
    """Two whole conversations without a prompt: the prompt is what they share, the answers their
    final assistant messages."""
    chosen_chat, rejected_chat = chat_messages(chosen, "chosen"), chat_messages(rejected, "rejected")
    if len(chosen_chat) < 2 or chosen_chat[:-1] != rejected_chat[:-1]:
        raise RowError("without a prompt, chosen and rejected must be one conversation up to their last message")
    for name, chat in (("chosen", chosen_chat), ("rejected", rejected_chat)):
        if chat[-1]["role"] != "assistant":
            raise RowError(f"the last message of {name} must be from the assistant, got {chat[-1]['role']!r}")
    return (
        prompt_chat(list(chosen_chat[:-1]), "the prompt"),
        chosen_chat[-1]["content"],
        rejected_chat[-1]["content"],
    )


def _split_shared_text(chosen: str, rejected: str) -> tuple[str | tuple[Message, ...], str, str]:
    """Two texts without a prompt (TRL's implicit prompt): the prompt is their common beginning, cut
    after the last "\\n\\nAssistant:" they share (an Anthropic HH transcript, whose prompt becomes a
    chat) or else after the last whitespace they share."""
    shared = chosen[: _common_prefix_length(chosen, rejected)]
    marker = shared.rfind(HH_ASSISTANT)
    if marker >= 0:
        cut = marker + len(HH_ASSISTANT)
        chosen_text, rejected_text = chosen[cut:].lstrip(), rejected[cut:].lstrip()
        chat = _hh_chat(chosen[:cut])
        if chat is None:
            return chosen[:cut], chosen_text, rejected_text
        if HH_HUMAN in chosen_text or HH_HUMAN in rejected_text:
            raise RowError("chosen and rejected differ before their last Assistant turn")
        return chat, chosen_text, rejected_text
    cut = len(shared)
    while cut and not shared[cut - 1].isspace():  # back to a word boundary
        cut -= 1
    if not shared[:cut].strip():
        raise RowError(
            "chosen and rejected share no prompt: no common beginning that ends at a space, "
            "a newline or '\\n\\nAssistant:'"
        )
    return chosen[:cut], chosen[cut:], rejected[cut:]


def _common_prefix_length(first: str, second: str) -> int:
    # Binary search over slice comparisons: C speed, where a loop over characters is not.
    low, high = 0, min(len(first), len(second))
    while low < high:
        middle = (low + high + 1) // 2
        if first[:middle] == second[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _hh_chat(text: str) -> tuple[Message, ...] | None:
    """The chat an Anthropic HH prompt ("\\n\\nHuman: ...\\n\\nAssistant:") stands for, ending with the
    user's turn; None if the text is not such a transcript."""
    if text.startswith("Human:"):
        text = "\n\n" + text
    pieces = _HH_TURN.split(text)  # [before the first turn, speaker, content, speaker, content, ...]
    if pieces[0].strip() or len(pieces) < 5:
        return None
    chat = [
        {"role": "user" if speaker == "Human" else "assistant", "content": content.strip()}
        for speaker, content in zip(pieces[1::2], pieces[2::2], strict=True)
    ]
    chat.pop()  # the empty Assistant turn the answers fill
    if chat[-1]["role"] != "user":
        raise RowError("the conversation before the answers does not end with a Human turn")
    return prompt_chat(chat, "the prompt")
