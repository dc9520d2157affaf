"""Using a trained reward model: its accuracy on a file of preferences, and scores for a project's answers.

`labeler-train eval-reward` reads the file with the importer's own readers, so every pair format the
importer takes (TRL standard, implicit prompt, conversational, HH transcripts, rankings; jsonl, json,
csv, parquet) is checked the same way, with the same FILE:LINE: reason for a bad row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labeler.domain import Ranking, ranking_to_pairs
from labeler.formats.row_items import ImportedPair, ImportedRanking, RowError
from labeler.formats.rows import parse_row
from labeler.store import StoreError, open_store
from labeler.store.scores import write_answer_scores
from trainer.data import as_prompt, take_from_rows
from trainer.errors import TrainerError
from trainer.models import load_trained_reward_model
from trainer.scoring import first_shown_wins, longer_wins, pair_accuracy_of, score_texts

SCORE_CHUNK = 4096  # answers scored, then written in one transaction


@dataclass(frozen=True)
class Preference:
    prompt: str | list[dict]
    chosen: str
    rejected: str
    chosen_shown_first: bool | None  # a ranking row lists its answers in the order shown; a pair has no order


def read_preferences(path: Path) -> list[Preference]:
    """Every preference in the file; a ranking row gives all of its pairs.

    Any bad row (or a row of answers without a ranking) stops with a TrainerError listing FILE:LINE: reason.
    """

    def preferences_of(data: Any, fmt: str) -> list[Preference]:
        item = parse_row(data, fmt)
        if isinstance(item, ImportedPair):
            return [Preference(as_prompt(item.prompt), item.chosen, item.rejected, None)]
        if isinstance(item, ImportedRanking):
            texts = [answer.text for answer in item.prompt.answers]
            prompt = as_prompt(item.prompt.prompt)
            return [
                Preference(prompt, texts[pair.chosen], texts[pair.rejected], pair.chosen < pair.rejected)
                for pair in ranking_to_pairs(Ranking(item.tiers, item.stated_strengths))
            ]
        raise RowError("answers without a ranking say nothing about which is better")

    preferences = take_from_rows(path, preferences_of, "nothing evaluated")
    if not preferences:
        raise TrainerError(f"{path}: no pairs to evaluate")
    return preferences


def evaluate_file(model_dir: Path, path: Path, max_length: int) -> dict:
    """{"accuracy", "pairs", "mean_margin"} of the model on the file's preferences (each answer scored once),
    and beside it what two rules that read no meaning score on the same pairs: "longer_wins" (the longer
    answer is chosen; a tie counts half) and "first_shown_wins" (the answer shown first is chosen; None
    when the file's pairs carry no display order). A reward model that does not beat both has learnt a
    length or a position, not a preference (on HH, "shorter wins" is right 55% of the time)."""
    preferences = read_preferences(path)
    model, tokenizer = load_trained_reward_model(model_dir)
    index_of, prompts, answers = {}, [], []
    for preference in preferences:
        for answer in (preference.chosen, preference.rejected):
            key = (repr(preference.prompt), answer)
            if key not in index_of:
                index_of[key] = len(answers)
                prompts.append(preference.prompt)
                answers.append(answer)
    rewards = score_texts(model, tokenizer, prompts, answers, max_length)  # (A,)
    chosen = rewards[[index_of[(repr(p.prompt), p.chosen)] for p in preferences]]  # (P,)
    rejected = rewards[[index_of[(repr(p.prompt), p.rejected)] for p in preferences]]  # (P,)
    result = pair_accuracy_of(chosen, rejected)
    return {
        "accuracy": result.accuracy,
        "pairs": result.pairs,
        "mean_margin": result.mean_margin,
        "longer_wins": longer_wins([(p.chosen, p.rejected) for p in preferences]),
        "first_shown_wins": first_shown_wins([p.chosen_shown_first for p in preferences]),
    }


def score_project(model_dir: Path, project: Path, max_length: int, name: str | None) -> tuple[int, str]:
    """Score every answer of the project and store the scores under `name` (default: the model folder's name).

    Written in transactions of SCORE_CHUNK answers: a stopped run keeps what it scored, and running it
    again replaces those scores with the same values.
    """
    name = name or Path(model_dir).resolve().name
    model, tokenizer = load_trained_reward_model(model_dir)
    try:
        with open_store(project) as store:
            prompts = store.prompts(store.prompt_ids())
            items = [(prompt.content, answer) for prompt in prompts.values() for answer in prompt.answers]
            for start in range(0, len(items), SCORE_CHUNK):
                chunk = items[start : start + SCORE_CHUNK]
                scores = score_texts(model, tokenizer, [p for p, _ in chunk], [a.text for _, a in chunk], max_length)
                write_answer_scores(store, name, [(a.id, float(s)) for (_, a), s in zip(chunk, scores, strict=True)])
    except StoreError as error:
        raise TrainerError(str(error)) from None
    return len(items), name
