PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/local.yaml

.PHONY: install run test lint bench clean

$(BIN)/batchrelay: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/batchrelay

run: install
	$(BIN)/batchrelay run -c $(CONFIG)

test: install
	./scripts/test-deps   # PostgreSQL, Alertmanager, Chromium, promtool: installed as root, else named
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

bench: install
	./scripts/test-deps  # PostgreSQL (replicas, scale) and Chromium (dashboard), as for make test
	./bench/deps  # wrk: installed as root, else named (ingest falls back to Python)
	$(BIN)/pip install --quiet apprise  # the delivery baseline; not a dependency
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/ingest.py --rate 1000
	$(BIN)/python bench/ingest.py --alerts
	$(BIN)/python bench/replicas.py
	$(BIN)/python bench/mns_consume.py
	$(BIN)/python bench/deliver.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/scale.py --scale --shapes 1x10000,100x100 --rounds 3  # small; the README's: --scale

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
