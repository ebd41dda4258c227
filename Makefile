# segqtl: the two commands.  `make demo` and `make test` each set up .venv if needed.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.segqtl-installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m segqtl.demo --out demo

test: $(STAMP)
	$(BIN)/ruff check segqtl tests benchmarks notebooks
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check segqtl tests benchmarks notebooks
	$(BIN)/ruff format --check segqtl tests benchmarks notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_nominal.py
	cd benchmarks && ../$(BIN)/python bench_perm.py
	$(BIN)/python benchmarks/bench_finemap.py
	$(BIN)/python benchmarks/bench_validate.py
	$(BIN)/python benchmarks/bench_all.py --from-json

clean:
	rm -rf $(VENV) demo benchmarks/out .pytest_cache .ruff_cache .hypothesis
