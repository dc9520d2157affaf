"""The dependency rule between packages, checked twice: by importing each module in a fresh interpreter (what
loads), and by reading every import statement, those inside functions too (what could load later).

domain -> stdlib only; store, formats, cli -> domain + sqlite-utils; only labeler.ui imports PySide6;
nothing in labeler imports torch or the rest of the training stack (the window opens without it; the trainer
runs as a child process), except `datasets`, imported by the Hugging Face export when it runs. The trainer's
light modules (what `labeler-train --help` and the app may load) import the training stack only inside the
functions that run it.
"""

import ast
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


def test_the_window_starts_without_the_plotting_library_or_numpy():
    """pyqtgraph (0.44 s to import) waits for the Train panel, numpy (0.1 s) for the Models tab's ratings:
    a start of the window pays for neither."""
    assert not imported_after("labeler.ui.main_window") & {"pyqtgraph", "numpy"}


def test_domain_uses_the_standard_library_only():
    loaded = imported_after("labeler.domain") - {"labeler"}
    third_party = {name for name in loaded if name not in sys.stdlib_module_names and not name.startswith("_")}
    assert third_party == set()


def test_the_trainer_cli_starts_without_the_training_stack():
    # --help must be instant: the stack is imported by the commands that use it.
    assert not imported_after("trainer.cli") & set(HEAVY)


TRAINING_STACK = {"torch", "transformers", "trl", "accelerate", "peft"}
LIGHT_TRAINER_MODULES = ("cli", "configs", "options", "stack", "events", "errors", "data", "__init__", "__main__")
LIGHT_TRAINER_MODULES += ("judging",)  # pure arithmetic: the win rate needs no torch


def import_statements(path: Path) -> list[tuple[str, bool]]:
    """(top-level package, inside a function) for every absolute import statement in the file."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name.split(".")[0], in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.split(".")[0], in_function))
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    visit(ast.parse(path.read_text()), False)
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def test_no_import_statement_in_labeler_breaks_the_rule_even_inside_a_function():
    broken = []
    for path in sorted((REPO / "labeler").rglob("*.py")):
        name = module_name(path)
        for package, in_function in import_statements(path):
            if package in TRAINING_STACK:
                broken.append(f"{name} imports {package}")
            elif package == "datasets" and not (name == "labeler.formats.export" and in_function):
                broken.append(f"{name} imports datasets (only the HF export may, when it runs)")
            elif package == "PySide6" and not name.startswith("labeler.ui"):
                broken.append(f"{name} imports PySide6 (only labeler.ui may)")
            elif name == "labeler.domain" and package not in sys.stdlib_module_names | {"labeler", "__future__"}:
                broken.append(f"labeler.domain imports {package} (standard library only)")
    assert broken == []


def test_the_light_trainer_modules_import_the_training_stack_only_in_the_commands_that_run_it():
    broken = [
        f"trainer.{name} imports {package} when it is imported"
        for name in LIGHT_TRAINER_MODULES
        for package, in_function in import_statements(REPO / "trainer" / f"{name}.py")
        if package in TRAINING_STACK | {"datasets"} and not in_function
    ]
    assert broken == []
