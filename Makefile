# budeval — the two commands of the README, and a few helpers.
#   make demo   set up .venv and run a demo evaluation end-to-end (SQLite + local backend)
#   make test   lint + the whole test suite (what CI runs)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test lint format bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "budeval needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/budeval demo

lint: setup
	$(BIN)/ruff check budeval tests bench
	$(BIN)/ruff format --check budeval tests bench

test: lint
	$(BIN)/pytest -q --durations=10

format: setup
	$(BIN)/ruff format budeval tests bench
	$(BIN)/ruff check --fix budeval tests bench

bench: setup
	$(BIN)/python bench/latency.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
