"""Projects for tests, each built in one call: `make_project(path, prompts, guidelines=..., ranked_by=...)`.

A test says what it needs (how many prompts, which answers, who ranked them) and not how a store is
filled. With guidelines, the project is made by the production `create_project`, as the CLI and the
app make one; without, it is a bare `open_store(create=True)` file (no guidelines, no settings), as
the tests that need exactly that expect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from labeler.domain import Judgement, Ranking
from labeler.store import NewAnswer, Store, create_project, open_store

Prompt = str | Sequence[Mapping[str, str]]  # a text, or a chat
PromptAnswers = tuple[Prompt, Sequence[str | NewAnswer]]
Added = list[tuple[int, list[int]]]  # (prompt id, answer ids) of each prompt, in the order given


def numbered_prompts(
    count: int, answers: int | Callable[[int], int] = 2, *, models: bool = False
) -> list[tuple[str, list[NewAnswer]]]:
    """`count` prompts "prompt {p}", each with `answers` answers (a number, or a function of p) "answer {a} of {p}";
    with `models`, answer a is by model "m{a}"."""
    per_prompt = answers if callable(answers) else (lambda _: answers)
    return [
        (f"prompt {p}", [NewAnswer(f"answer {a} of {p}", f"m{a}" if models else None) for a in range(per_prompt(p))])
        for p in range(count)
    ]


def add_prompts(store: Store, prompts: Iterable[PromptAnswers] | Mapping[str, Sequence[str | NewAnswer]]) -> Added:
    """Add each (prompt, answers); an answer given as text is a NewAnswer of that text."""
    pairs = prompts.items() if isinstance(prompts, Mapping) else prompts
    return [
        store.add_prompt(prompt, [a if isinstance(a, NewAnswer) else NewAnswer(a) for a in answers])
        for prompt, answers in pairs
    ]


def rank_every_prompt(
    store: Store, annotator: str, ranking: Callable[[list[int]], Ranking] = Ranking.of, prompts: Added | None = None
) -> None:
    """`annotator` ranks each prompt's answers (all the project's prompts unless `prompts` are given) by
    `ranking` of their ids (by default in the order they were added, best first), shown in that order."""
    if prompts is None:
        prompts = [(p, [a.id for a in store.prompt(p).answers]) for p in store.prompt_ids()]
    for prompt_id, answers in prompts:
        store.record_judgement(prompt_id, annotator, Judgement.ranked(ranking(list(answers))), list(answers))


def make_project(
    path: Path,
    prompts: int | Iterable[PromptAnswers] | Mapping[str, Sequence[str | NewAnswer]] = (),
    *,
    guidelines: str | None = None,
    annotators_per_prompt: int = 1,
    ranked_by: Iterable[str] = (),
    ranking: Callable[[list[int]], Ranking] = Ranking.of,
) -> Added:
    """A new project file at `path`, closed again; returns (prompt id, answer ids) of each prompt.

    `prompts`: a number of numbered prompts of 2 answers (see numbered_prompts), or (prompt, answers)
    pairs, or a {prompt text: answers} mapping. `guidelines` (and `annotators_per_prompt`) make the
    project with create_project. Each of `ranked_by` ranks every prompt by `ranking` of its answer ids.
    """
    if isinstance(prompts, int):
        prompts = numbered_prompts(prompts)
    if guidelines is None:
        assert annotators_per_prompt == 1, "annotators_per_prompt is a setting create_project writes: give guidelines"
        opened = open_store(path, create=True)
    else:
        opened = create_project(path, guidelines, annotators_per_prompt=annotators_per_prompt)
    with opened as store:
        added = add_prompts(store, prompts)
        for annotator in ranked_by:
            rank_every_prompt(store, annotator, ranking, added)
    return added
