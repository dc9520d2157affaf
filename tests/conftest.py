"""Shared fixtures: an empty project, and a project seeded with prompts of 2 to 9 answers."""

import os
import sys
from pathlib import Path

import pytest

from labeler.store import NewAnswer, Store, open_store

# The GUI tests run headless; set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))


@pytest.fixture
def project_path(tmp_path: Path) -> Path:
    return tmp_path / "project.db"


@pytest.fixture
def store(project_path: Path) -> Store:
    with open_store(project_path, create=True) as opened:
        yield opened


def seed_prompts(store: Store, count: int = 8) -> list[tuple[int, list[int]]]:
    """Prompts with 2..9 answers (cycling); returns (prompt id, answer ids) for each."""
    seeded = []
    for index in range(count):
        answers = [NewAnswer(f"answer {a} to prompt {index}", model=f"model-{a % 3}") for a in range(2 + index % 8)]
        seeded.append(store.add_prompt(f"prompt number {index}", answers, metadata={"index": index}))
    return seeded


@pytest.fixture
def seeded_store(store: Store) -> tuple[Store, list[tuple[int, list[int]]]]:
    return store, seed_prompts(store)
