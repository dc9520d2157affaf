"""The bundled demo project: resources/demo-prompts.jsonl imported into a new project file."""

from importlib.resources import as_file
from pathlib import Path

from labeler.bundled import bundled, bundled_text
from labeler.formats.importer import import_files
from labeler.store import create_project

DEMO_PROMPTS = "demo-prompts.jsonl"


def build_demo_project(path: Path) -> Path:
    """Create a project at `path` holding the demo prompts, their answers and the guidelines."""
    with create_project(path, bundled_text("guidelines.md")) as store, as_file(bundled(DEMO_PROMPTS)) as demo_file:
        import_files(store, [demo_file])
    return path
