"""Using a trained reward model: its accuracy on a file of preferences, and scores for a project's answers.

`labeler-train eval-reward` reads the file with the importer's own readers, so every pair format the
importer takes (TRL standard, implicit prompt, conversational, HH transcripts, rankings; jsonl, json,
csv, parquet) is checked the same way, with the same FILE:LINE: reason for a bad row.
"""

from __future__ import annotations

from pathlib import Path

from labeler.domain import Ranking, ranking_to_pairs
from labeler.formats.reading import BadRow, FileFormatError, detect_format, read_rows
from labeler.formats.rows import ImportedPair, ImportedRanking, RowError, parse_row
from labeler.store import StoreError, open_store
from labeler.store.exporting import prompts_with_answers
from labeler.store.scores import write_answer_scores
from trainer.errors import TrainerError
from trainer.models import load_trained_reward_model
from trainer.scoring import pair_accuracy_of, score_texts

MAX_ERRORS_SHOWN = 20
SCORE_CHUNK = 4096  # answers scored, then written in one transaction


def read_preferences(path: Path) -> list[tuple[str | list[dict], str, str]]:
    """(prompt, chosen, rejected) for every preference in the file; a ranking row gives all of its pairs.

    Any bad row (or a row of answers without a ranking) stops with a TrainerError listing FILE:LINE: reason.
    """
    try:
        fmt = detect_format(path)
        rows = read_rows(path, fmt)
    except (FileFormatError, OSError) as error:
        raise TrainerError(str(error)) from None
    preferences, problems = [], []
    for row in rows:
        if isinstance(row, BadRow):
            problems.append(f"{row.file}:{row.line}: {row.reason}")
            continue
        try:
            item = parse_row(row.data, fmt)
        except RowError as error:
            problems.append(f"{row.file}:{row.line}: {error}")
            continue
        if isinstance(item, ImportedPair):
            preferences.append((_as_prompt(item.prompt), item.chosen, item.rejected))
        elif isinstance(item, ImportedRanking):
            texts = [answer.text for answer in item.prompt.answers]
            for pair in ranking_to_pairs(Ranking.of(item.tiers, item.strengths)):
                preferences.append((_as_prompt(item.prompt.prompt), texts[pair.chosen], texts[pair.rejected]))
        else:
            problems.append(f"{row.file}:{row.line}: answers without a ranking say nothing about which is better")
    if problems:
        shown = "\n".join(problems[:MAX_ERRORS_SHOWN])
        more = f"\n... and {len(problems) - MAX_ERRORS_SHOWN} more" if len(problems) > MAX_ERRORS_SHOWN else ""
        raise TrainerError(f"{path}: {len(problems)} bad rows, nothing evaluated:\n{shown}{more}")
    if not preferences:
        raise TrainerError(f"{path}: no pairs to evaluate")
    return preferences


def _as_prompt(prompt) -> str | list[dict]:
    return prompt if isinstance(prompt, str) else [dict(message) for message in prompt]


def evaluate_file(model_dir: Path, path: Path, max_length: int) -> dict:
    """{"accuracy", "pairs", "mean_margin"} of the model on the file's preferences (each answer scored once)."""
    preferences = read_preferences(path)
    model, tokenizer = load_trained_reward_model(model_dir)
    index_of, prompts, answers = {}, [], []
    for prompt, chosen, rejected in preferences:
        for answer in (chosen, rejected):
            key = (repr(prompt), answer)
            if key not in index_of:
                index_of[key] = len(answers)
                prompts.append(prompt)
                answers.append(answer)
    rewards = score_texts(model, tokenizer, prompts, answers, max_length)  # (A,)
    chosen = rewards[[index_of[(repr(p), c)] for p, c, _ in preferences]]  # (P,)
    rejected = rewards[[index_of[(repr(p), r)] for p, _, r in preferences]]  # (P,)
    result = pair_accuracy_of(chosen, rejected)
    return {"accuracy": result.accuracy, "pairs": result.pairs, "mean_margin": result.mean_margin}


def score_project(model_dir: Path, project: Path, max_length: int, name: str | None) -> tuple[int, str]:
    """Score every answer of the project and store the scores under `name` (default: the model folder's name).

    Written in transactions of SCORE_CHUNK answers: a stopped run keeps what it scored, and running it
    again replaces those scores with the same values.
    """
    name = name or Path(model_dir).resolve().name
    model, tokenizer = load_trained_reward_model(model_dir)
    try:
        with open_store(project) as store:
            prompts = prompts_with_answers(store, store.prompt_ids())
            items = [(prompt.content, answer) for prompt in prompts.values() for answer in prompt.answers]
            for start in range(0, len(items), SCORE_CHUNK):
                chunk = items[start : start + SCORE_CHUNK]
                scores = score_texts(model, tokenizer, [p for p, _ in chunk], [a.text for _, a in chunk], max_length)
                write_answer_scores(store, name, [(a.id, float(s)) for (_, a), s in zip(chunk, scores, strict=True)])
    except StoreError as error:
        raise TrainerError(str(error)) from None
    return len(items), name
