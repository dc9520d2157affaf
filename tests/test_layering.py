"""The dependency rule between packages, checked by importing each module in a fresh interpreter.

domain -> stdlib only; store, formats, cli -> domain + sqlite-utils; only labeler.ui imports PySide6;
nothing in labeler imports torch (the window opens without it; the trainer runs as a child process).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LABELER_MODULES = sorted(
    ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    for path in (REPO / "labeler").rglob("*.py")
    if "__main__" not in path.name
)
HEAVY = ("torch", "transformers", "trl", "datasets", "accelerate", "peft")


def imported_after(module: str) -> set[str]:
    """Top-level names of every module loaded by importing `module` in a new interpreter."""
    code = (
        "import sys, json; before = set(sys.modules); "
        f"import {module}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    return set(json.loads(result.stdout))


def test_every_module_is_checked():
    assert "labeler.domain" in LABELER_MODULES
    assert "labeler.ui.main_window" in LABELER_MODULES


@pytest.mark.parametrize("module", LABELER_MODULES)
def test_labeler_never_imports_torch_and_only_ui_imports_qt(module):
    loaded = imported_after(module)
    assert not loaded & set(HEAVY), f"{module} pulls in {sorted(loaded & set(HEAVY))}"
    if not module.startswith("labeler.ui"):
        assert "PySide6" not in loaded, f"{module} imports PySide6; only labeler.ui may"


def test_domain_uses_the_standard_library_only():
    loaded = imported_after("labeler.domain") - {"labeler"}
    third_party = {name for name in loaded if name not in sys.stdlib_module_names and not name.startswith("_")}
    assert third_party == set()


def test_the_trainer_cli_starts_without_the_training_stack():
    # --help must be instant: the stack is imported by the commands that use it.
    assert not imported_after("trainer.cli") & set(HEAVY)
