"""What a row read from a file becomes: a prompt with answers, a ranking of them, or a pair, and
RowError, the reason a row cannot be imported. Built by labeler.formats.rows.parse_row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Message = dict[str, str]  # {"role": ..., "content": ...}


class RowError(ValueError):
    """A row that cannot be imported; the message says why, shortly."""


# Not frozen: one of these is built for every answer of every row imported, and building a frozen
# dataclass costs about three times as much (measured: 1.2 µs against 0.4 µs).
@dataclass(slots=True)
class ImportedAnswer:
    text: str
    model: str | None = None
    generation: dict = field(default_factory=dict)  # sampling settings and whatever else came with it


@dataclass(slots=True)
class ImportedPrompt:
    prompt: str | tuple[Message, ...]
    answers: tuple[ImportedAnswer, ...]
    external_id: str | None = None  # the row's "id", as text
    metadata: dict = field(default_factory=dict)


@dataclass(slots=True)
class ImportedRanking:
    prompt: ImportedPrompt
    tiers: tuple[tuple[int, ...], ...]  # 0-based indices into prompt.answers, best tier first
    # Between adjacent tiers: 1 slightly, 2 better, 3 much better (0: "no margin", from a pair); None
    # where the row states none.
    stated_strengths: tuple[int | None, ...]
    annotator: str | None
    likert: int | None = None
    comment: str = ""


@dataclass(slots=True)
class ImportedPair:
    prompt: str | tuple[Message, ...]
    chosen: str
    rejected: str
    margin: int | None  # a whole number (0: stated, no margin), or None when the row gives none
    annotator: str | None
    # Answers split from Anthropic HH transcripts that hold a "Human:" or "Assistant:" of their own
    # (the model wrote a speaker's label, or whole further turns, into its reply): kept as written,
    # since that is the text the annotator judged, and counted for the import summary.
    answers_with_speaker_labels: int = 0
