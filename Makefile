# Two commands on a fresh machine: `make run` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check bench install clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/slidebridge serve

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy app tiler annotations workers benchmarks
	$(BIN)/pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy app tiler annotations workers benchmarks

bench: $(STAMP)
	$(BIN)/python -m benchmarks.tiling

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
