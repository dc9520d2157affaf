"""Turn one row read from a file into a typed item to import: a prompt with answers, a ranking, or a pair.

The kinds of row (the keys of a JSON object, or the columns of a CSV file):
  - a prompt with 2 to 9 answers: "prompt" (text or a chat), "answers" (texts, or objects with
    "text", an optional "model", and other keys kept as generation settings), optional "id" and
    "metadata"; in CSV the columns prompt, answer_1 ... answer_K, optional id and model_1 ... model_K;
  - a ranking: the same plus "ranking", 0-based answer indices best first with a nested list for a
    tie ([[2, 0], 1, 3]), optional "strengths" between tiers (1, 2 or 3), "annotator", "likert",
    "comment"; in CSV "ranking" and "strengths" hold JSON text. Strengths given are stated; without
    them no step's strength was stated. `labeler export --format rankings` writes "stated_strengths"
    too (null where a step's strength was not stated), which then says which were;
  - a pair, in any of TRL's preference layouts: "prompt", "chosen", "rejected" as text or as chat
    messages, or "chosen" and "rejected" alone (the prompt is what they share, which also reads
    Anthropic HH transcripts), with an optional "margin" (stated when given, 0 included) and
    "annotator".
Missing optional fields may be absent or null. Keys this module does not know are ignored, so
datasets with extra columns import.

An empty answer ("" or only whitespace) is a real answer: a policy can say nothing and an annotator can
prefer that, so it is imported like any other (two empty answers to one prompt are the same text). An
empty prompt is refused. In CSV an empty cell is an absent field, except where it can only be an
answer: an empty chosen or rejected cell beside a filled one is an empty answer, and so is an empty
answer_N cell before a filled answer_M; empty cells after the last filled answer are no answers, so a
row whose last answer is empty needs jsonl or parquet.

Pure: no files, no database. Whether one id names two different prompts is for the caller to check
across rows. The rules of rankings are labeler.domain's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from labeler.domain import (
    LIKERT_RANGE,
    MAX_ANSWERS,
    MIN_ANSWERS,
    Ranking,
    RankingError,
    Strength,
    validate_ranking,
)
from labeler.formats.reading import FORMATS
from labeler.formats.strict_json import describe_json_type, strict_json_loads

Message = dict[str, str]  # {"role": ..., "content": ...}

ROLES = ("system", "user", "assistant")
HH_HUMAN = "\n\nHuman:"
HH_ASSISTANT = "\n\nAssistant:"
_HH_TURN = re.compile(r"\n\n(Human|Assistant):")
_NUMBERED_COLUMN = re.compile(r"(answer|model)_([1-9][0-9]*)")
_ANSWER_COLUMN = re.compile(r"answer_[1-9][0-9]*")
_CSV_JSON_COLUMNS = ("ranking", "strengths", "stated_strengths", "metadata")
_CSV_PAIR_COLUMNS = ("chosen", "rejected")
_CSV_WHOLE_NUMBER_COLUMNS = ("margin", "likert")


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


def row_kind(data: dict) -> str:
    """ "prompt", "ranking" or "pair"; raises RowError when the row is none of them."""
    if not isinstance(data, dict):
        raise RowError(f"a row must be an object, got {describe_json_type(data)}")
    has_answers = data.get("answers") is not None or any(map(_ANSWER_COLUMN.fullmatch, data))
    chosen, rejected = data.get("chosen"), data.get("rejected")
    # One of the two with content makes a pair (the other may be an empty answer); two empty ones do
    # not, so a row of a file with both kinds of columns is what its other fields say.
    has_pair = _given(chosen) or _given(rejected)
    if has_answers and has_pair:
        raise RowError("a row has either 'answers' or 'chosen' and 'rejected', not both")
    if has_answers:
        return "ranking" if _given(data.get("ranking")) else "prompt"
    if has_pair:
        for key in ("chosen", "rejected"):
            if data.get(key) is None:
                raise RowError(f"a pair needs both 'chosen' and 'rejected'; '{key}' is missing")
        return "pair"
    if chosen is not None and rejected is not None:
        raise RowError("chosen and rejected are the same text (both empty)")
    raise RowError("a row needs 'prompt' and 'answers', or 'chosen' and 'rejected'")


def parse_row(data: dict, fmt: str) -> ImportedPrompt | ImportedRanking | ImportedPair:
    """The typed item a row stands for; `fmt` is the file's format (CSV cells are all text).
    Raises RowError with the reason when the row breaks a rule."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    if fmt == "csv":
        data = _fields_from_csv(data)
    kind = row_kind(data)
    if kind == "pair":
        return _pair(data)
    prompt = ImportedPrompt(
        prompt=parse_prompt(data.get("prompt")),
        answers=_answers(data["answers"]),
        external_id=_external_id(data.get("id")),
        metadata=_metadata(data.get("metadata")),
    )
    if fmt == "parquet":  # JSON and CSV can only hold JSON; parquet can hold dates, bytes, decimals
        _require_json(prompt.metadata, "metadata")
        for number, answer in enumerate(prompt.answers, 1):
            _require_json(answer.generation, f"the settings of answer {number}")
    if kind == "prompt":
        return prompt
    ranking = _ranking(data["ranking"], len(prompt.answers))
    return ImportedRanking(
        prompt=prompt,
        tiers=ranking.tiers,
        stated_strengths=_stated_strengths(ranking, data.get("strengths"), data.get("stated_strengths")),
        annotator=_annotator(data.get("annotator")),
        likert=_likert(data.get("likert")),
        comment=_comment(data.get("comment")),
    )


def _given(value: Any) -> bool:
    return value is not None and value != ""


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- CSV cells to fields ---------------------------------------------------------------------


def _fields_from_csv(cells: dict[str, str]) -> dict[str, Any]:
    """The row as JSON-like fields: empty cells dropped (but those of the answer columns kept, see
    _answers_from_columns, and those of chosen and rejected, which row_kind reads), answer_N/model_N
    gathered into "answers", JSON and whole-number columns parsed."""
    fields: dict[str, Any] = {}
    answers: dict[int, str] = {}  # every answer_N column's cell, empty or not
    models: dict[int, str] = {}
    for column, cell in cells.items():
        numbered = _NUMBERED_COLUMN.fullmatch(column)
        if numbered and numbered[1] == "answer":
            answers[int(numbered[2])] = cell
        elif column in _CSV_PAIR_COLUMNS:
            fields[column] = cell
        elif cell == "":
            continue
        elif numbered:
            models[int(numbered[2])] = cell
        elif column in _CSV_JSON_COLUMNS:
            try:
                fields[column] = strict_json_loads(cell)
            except ValueError as err:
                raise RowError(f"column '{column}' must hold JSON: {err}") from None
        elif column in _CSV_WHOLE_NUMBER_COLUMNS:
            if not re.fullmatch(r"\s*-?[0-9]+\s*", cell):
                raise RowError(f"{column} must be a whole number, got {cell!r}")
            fields[column] = int(cell)
        else:
            fields[column] = cell
    if answers:
        fields["answers"] = _answers_from_columns(answers, models)
    return fields


def _answers_from_columns(answers: dict[int, str], models: dict[int, str]) -> list[dict[str, Any]]:
    """answer_1 ... answer_K as a list, K the last filled one: an empty cell before it is an empty
    answer, the empty cells after it are no answers (a CSV cell cannot tell a last empty answer from
    none)."""
    count = max((number for number, cell in answers.items() if cell != ""), default=0)
    for number in range(1, count):
        if number not in answers:
            raise RowError(f"there is no answer_{number} column, but answer_{count} is given")
    for number in sorted(models):
        if number > count:
            raise RowError(
                f"model_{number} is given but answer_{number} is empty (a last answer that is empty "
                "cannot be told from no answer in CSV: use jsonl or parquet)"
            )
    return [{"text": answers[number], "model": models.get(number)} for number in range(1, count + 1)]


# --- prompts and answers ---------------------------------------------------------------------


def parse_prompt(value: Any) -> str | tuple[Message, ...]:
    """A row's prompt (a text, or a chat as messages) by the importer's rules; RowError says what is wrong."""
    if value is None:
        raise RowError("the prompt is missing")
    if isinstance(value, str):
        if not value.strip():
            raise RowError("the prompt is empty")
        return value
    if isinstance(value, list):
        return _prompt_chat(value, "the prompt")
    raise RowError(f"the prompt must be text or a list of chat messages, got {describe_json_type(value)}")


def _prompt_chat(messages: list, what: str) -> tuple[Message, ...]:
    """A chat that is a prompt: unlike an answer, it must say something."""
    chat = _chat(messages, what)
    if not any(message["content"].strip() for message in chat):
        raise RowError(f"{what} is empty")
    return chat


def _chat(messages: list, what: str) -> tuple[Message, ...]:
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


def _answers(value: Any) -> tuple[ImportedAnswer, ...]:
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


def _external_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) and not _is_whole(value):
        raise RowError(f"id must be text or a whole number, got {describe_json_type(value)}")
    text = str(value)
    if not text.strip():
        raise RowError("the id is empty")
    return text


def _metadata(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RowError(f"metadata must be an object, got {describe_json_type(value)}")
    return value


def _require_json(value: dict, what: str) -> None:
    if value:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise RowError(f"{what} must hold only JSON values: {err}") from None


# --- rankings --------------------------------------------------------------------------------


def _ranking(ranking: Any, count: int) -> Ranking:
    """The row's tiers over answers 0 to count - 1, no strength stated yet."""
    if not isinstance(ranking, list) or not ranking:
        raise RowError("ranking must be a list of answer indices, best first (a nested list is a tie)")
    tiers = []
    for item in ranking:
        tier = item if isinstance(item, list) else [item]
        for index in tier:
            if not _is_whole(index):
                raise RowError(f"ranking must hold 0-based answer indices, got {index!r}")
            if not 0 <= index < count:
                raise RowError(f"ranking names answer index {index}, but the {count} answers are 0 to {count - 1}")
        tiers.append(tier)
    try:
        checked = Ranking.of(tiers)
        validate_ranking(checked, range(count))
    except RankingError as err:
        raise RowError(f"bad ranking of answers 0 to {count - 1}: {err}") from None
    return checked


def _stated_strengths(ranking: Ranking, strengths: Any, stated: Any) -> tuple[int | None, ...]:
    """The strengths the row states between the ranking's tiers (None where it states none).

    A ranking is an annotator's judgement, made with the three strengths an annotator can choose (the
    domain also allows larger steps, for imported pairs' margins). "stated_strengths", which the rankings
    export writes so that it imports back as it was, may also hold null (not stated) and 0 (a pair's
    "no margin"). Given with it, "strengths" must be what labeler records for those (the default 2 in
    place of null and 0): an edit of one but not the other is refused, not silently dropped.
    """
    if stated is None:
        given = _strength_list(strengths, "strengths", ranking, allowed=tuple(Strength), null=False)
        return Ranking.of(ranking.tiers).stated_strengths if given is None else given
    stated = _strength_list(stated, "stated_strengths", ranking, allowed=(0, *Strength), null=True)
    recorded = Ranking(ranking.tiers, stated).strengths
    if strengths is not None and _strength_list(strengths, "strengths", ranking, tuple(Strength), False) != recorded:
        raise RowError(
            f"strengths {strengths} do not go with stated_strengths {list(stated)}: "
            f"those record strengths {list(recorded)} (2 where none was stated, or 0)"
        )
    return stated


def _strength_list(
    value: Any, name: str, ranking: Ranking, allowed: tuple[int, ...], null: bool
) -> tuple[int | None, ...] | None:
    """A row's list of strengths between tiers, each one of `allowed` (or null, if `null`); None if absent."""
    if value is None:
        return None
    choices = ", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}" + (" (or null)" if null else "")
    if not isinstance(value, list) or not all(_is_whole(item) or (null and item is None) for item in value):
        raise RowError(f"{name} must be a list of {choices}, one between each two tiers")
    for item in value:
        if item is not None and item not in allowed:
            raise RowError(f"{name} must be {choices}, got {item}")
    tiers = len(ranking.tiers)
    if len(value) != tiers - 1:
        raise RowError(
            f"bad ranking of answers 0 to {len(ranking.answers) - 1}: {tiers} tiers need {tiers - 1} {name}, "
            f"got {len(value)}"
        )
    return tuple(None if item is None else int(item) for item in value)


def _annotator(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RowError(f"annotator must be text, got {describe_json_type(value)}")
    if not value.strip():
        raise RowError("the annotator name is empty")
    return value.strip()


def _likert(value: Any) -> int | None:
    if value is None:
        return None
    whole = _whole_float_as_int(value)
    if not _is_whole(whole) or whole not in LIKERT_RANGE:
        raise RowError(f"likert must be a whole number from 1 to 7, got {value!r}")
    return whole


def _comment(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RowError(f"comment must be text, got {describe_json_type(value)}")
    return value


def _whole_float_as_int(value: Any) -> Any:
    """2.0 as 2: a column with gaps becomes float in pandas, so whole numbers arrive as floats."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# --- pairs -----------------------------------------------------------------------------------


def _pair(data: dict) -> ImportedPair:
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
        _annotator(data.get("annotator")),
        answers_with_speaker_labels=labelled,
    )


def _holds_a_speaker_label(text: str) -> bool:
    """Whether an answer of an HH transcript holds "Human:" or "Assistant:" (with its blank line or not)."""
    return "Human:" in text or "Assistant:" in text


def _margin(value: Any) -> int | None:
    """The margin the row states, 0 included (TRL writes 0 for "no margin": stated, and kept as stated);
    None when the row gives none."""
    whole = _whole_float_as_int(value)
    if whole is None:
        return None
    if not _is_whole(whole) or whole < 0:
        raise RowError(f"margin must be a whole number, 0 or more, got {value!r}")
    return whole


def _assistant_text(messages: list, name: str) -> str:
    """The answer in a conversational pair: the content of its assistant message(s)."""
    chat = _chat(messages, name)
    for number, message in enumerate(chat, 1):
        if message["role"] != "assistant":
            raise RowError(f"{name} must hold assistant messages only; message {number} is from {message['role']!r}")
    return "\n\n".join(message["content"] for message in chat)


def _split_shared_messages(chosen: list, rejected: list) -> tuple[tuple[Message, ...], str, str]:
    """Two whole conversations without a prompt: the prompt is what they share, the answers their
    final assistant messages."""
    chosen_chat, rejected_chat = _chat(chosen, "chosen"), _chat(rejected, "rejected")
    if len(chosen_chat) < 2 or chosen_chat[:-1] != rejected_chat[:-1]:
        raise RowError("without a prompt, chosen and rejected must be one conversation up to their last message")
    for name, chat in (("chosen", chosen_chat), ("rejected", rejected_chat)):
        if chat[-1]["role"] != "assistant":
            raise RowError(f"the last message of {name} must be from the assistant, got {chat[-1]['role']!r}")
    return (
        _prompt_chat(list(chosen_chat[:-1]), "the prompt"),
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
    return _prompt_chat(chat, "the prompt")
