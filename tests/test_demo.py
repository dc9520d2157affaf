"""The bundled demo project is real: varied prompts, 3 to 5 answers of different quality, models named."""

import json
from collections import Counter

from labeler.bundled import bundled_text
from labeler.demo import DEMO_PROMPTS, build_demo_project
from labeler.store import open_store
from labeler.store.queue import ANNOTATORS_PER_PROMPT


def demo_rows() -> list[dict]:
    return [json.loads(line) for line in bundled_text(DEMO_PROMPTS).splitlines() if line.strip()]


def test_the_demo_file_has_the_variety_it_promises():
    rows = demo_rows()
    assert len(rows) >= 40
    categories = Counter(row["metadata"]["category"] for row in rows)
    for category in ("advice", "coding", "maths", "summarisation", "multi-turn", "safety"):
        assert categories[category] >= 1, category
    chats = [row for row in rows if isinstance(row["prompt"], list)]
    assert len(chats) >= 3
    assert all(chat["prompt"][-1]["role"] == "user" for chat in chats)
    assert any("```" in answer["text"] for row in rows for answer in row["answers"])
    for row in rows:
        assert 3 <= len(row["answers"]) <= 5, row["id"]
        assert all(answer["model"] for answer in row["answers"]), row["id"]
        assert len({answer["text"] for answer in row["answers"]}) == len(row["answers"]), row["id"]


def test_the_demo_project_builds_with_guidelines(tmp_path):
    path = build_demo_project(tmp_path / "demo.db")
    rows = demo_rows()
    with open_store(path) as store:
        stats = store.stats()
        assert stats.prompts == len(rows)
        assert stats.answers == sum(len(row["answers"]) for row in rows)
        assert stats.judgements == 0
        assert store.setting(ANNOTATORS_PER_PROMPT) == 1  # made as `labeler init` makes a project
        version, text = store.guidelines()
        assert version == 1
        assert "Rank the answers" in text
