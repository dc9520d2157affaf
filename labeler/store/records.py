"""The records the store reads and writes, how prompts and answers are held in their rows, and the hashes
and clock the store stamps them with."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class NewAnswer:
    text: str
    model: str | None = None
    generation: Mapping[str, Any] | None = None
    source: str | None = None


@dataclass(frozen=True)
class Answer:
    id: int
    prompt_id: int
    text: str
    model: str | None
    generation: dict[str, Any]
    source: str | None
    round: int = 1  # the round it was added in (labeler.store.rounds)


@dataclass(frozen=True)
class NewRound:
    """What Store.add_round added."""

    prompt_id: int
    round: int
    answer_ids: list[int]
    no_room: int  # new answers left out: the task would have held more than 9


@dataclass(frozen=True)
class Prompt:
    id: int
    external_id: str | None
    kind: str  # "text" or "chat"
    content: str | list[dict[str, str]]
    metadata: dict[str, Any]
    answers: list[Answer]


@dataclass(frozen=True)
class RecordedJudgement:
    id: int
    uuid: str
    seq: int
    created_at: str
    pairs: int


@dataclass(frozen=True)
class ProjectStats:
    prompts: int
    answers: int
    annotators: int
    judgements: int  # current: neither superseded nor retracted
    judgement_records: int  # every row, corrections and retractions included
    ranked: int
    all_bad: int
    skipped: int
    pairs: int  # pairs of current judgements
    demonstrations: int
    drafts: int


def utc_stamp(moment: datetime) -> str:
    """A moment as stored: UTC, ISO 8601 with microseconds and a Z, so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now() -> str:
    return utc_stamp(datetime.now(UTC))


def normalised_prompt(prompt: str | Sequence[Mapping[str, str]]) -> str | list[Mapping[str, str]]:
    """A chat of one user message is that message's text: the same prompt, stored one way, so a
    text prompt exported as a conversation and imported back is recognised."""
    if isinstance(prompt, str):
        return prompt
    messages = list(prompt)
    if len(messages) == 1 and messages[0].get("role") == "user" and set(messages[0]) == {"role", "content"}:
        return messages[0]["content"]
    return messages


def prompt_kind_and_content(prompt: str | Sequence[Mapping[str, str]]) -> tuple[str, str]:
    """("text", the text) or ("chat", the messages as JSON): how the prompts table holds a prompt."""
    prompt = normalised_prompt(prompt)
    if isinstance(prompt, str):
        return "text", prompt
    return "chat", json.dumps(prompt, ensure_ascii=False)


def prompt_from_row(row: Sequence[Any], answers: list[Answer]) -> Prompt:
    """A prompt from its row (id, external_id, kind, content, metadata) and its answers."""
    prompt_id, external_id, kind, content, metadata = row
    return Prompt(
        prompt_id, external_id, kind, content if kind == "text" else json.loads(content), json.loads(metadata), answers
    )


def answer_from_row(row: Sequence[Any]) -> Answer:
    """An answer from its row (id, prompt_id, text, model, generation, source, round)."""
    answer_id, prompt_id, text, model, generation, source, round_number = row
    return Answer(answer_id, prompt_id, text, model, json.loads(generation), source, round_number)


def content_hash(prompt: str | Sequence[Mapping[str, str]]) -> str:
    """Identity of a prompt by its content, the same however its JSON was spelled."""
    prompt = normalised_prompt(prompt)
    if isinstance(prompt, str):
        return text_prompt_hash(prompt.encode("utf-8", "surrogatepass"))
    canonical = "chat\x00" + json.dumps(list(prompt), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def text_prompt_hash(encoded: bytes) -> str:
    """content_hash of a text prompt from its UTF-8 bytes (an import has them at hand)."""
    return hashlib.sha256(b"text\x00" + encoded).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def answers_hash(texts: Iterable[str]) -> str:
    """Hash of the answer texts exactly as shown, in display order."""
    return hashlib.sha256(json.dumps(list(texts), ensure_ascii=False).encode("utf-8")).hexdigest()
