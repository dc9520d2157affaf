"""The bundled demo project: built from resources/demo-prompts.jsonl into a project file."""

import json
from pathlib import Path

from labeler.bundled import bundled_text
from labeler.store import NewAnswer, open_store

DEMO_PROMPTS = "demo-prompts.jsonl"
DEMO_SOURCE = "bundled demo"


def build_demo_project(path: Path) -> Path:
    """Create a project at `path` holding the demo prompts, their answers and the guidelines.

    The demo file is ours and trusted; people's own files go through the importers, which check
    every line.
    """
    with open_store(path, create=True) as store:
        store.add_guidelines(bundled_text("guidelines.md"))
        for line in bundled_text(DEMO_PROMPTS).splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            answers = [
                NewAnswer(text=a["text"], model=a.get("model"), source=DEMO_SOURCE) for a in row["answers"]
            ]
            store.add_prompt(row["prompt"], answers, external_id=row.get("id"), metadata=row.get("metadata"))
    return path
