"""Files shipped with the app (the top-level resources/ folder, installed as `labeler.resources`).

Read through importlib.resources so they are found the same way from a checkout, an editable
install and a built wheel.
"""

from importlib.resources import files
from importlib.resources.abc import Traversable


def bundled(relative_path: str) -> Traversable:
    """A bundled file, e.g. bundled("guidelines.md"); raises FileNotFoundError if absent."""
    resource = files("labeler.resources").joinpath(relative_path)
    if not resource.is_file():
        raise FileNotFoundError(f"bundled resource missing: {relative_path}")
    return resource


def bundled_text(relative_path: str) -> str:
    return bundled(relative_path).read_text(encoding="utf-8")
