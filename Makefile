# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# TORCH pins the CPU build that lies on this machine's disk; override it elsewhere (e.g. TORCH=torch).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: demo test lint bench-deps clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/genmodels demo

test: $(VENV)/.installed
	-bash .ci/ensure-chromium
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench-deps: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test,bench]'

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
