# Two entry points: `make run` (the product) and `make test` (the whole suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What the product needs to run, and what development needs on top (tests, linters).
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
# `make run PORT=8001 HOST=0.0.0.0` serves elsewhere.
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test check lint bench install clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(RUN_STAMP) $(STAMP)

# Everything, for development: the product, tests, ruff and mypy.
install: $(STAMP)

# The demo server installs the runtime dependencies only.
run: $(RUN_STAMP)
	@$(BIN)/uno-jobs serve --app uno.jobs.demo --host $(HOST) --port $(PORT)

# The whole gate: lint, format, types, then every test with coverage.
test: lint
	$(BIN)/pytest -q -p no:cacheprovider --cov=uno.jobs --cov-report=term:skip-covered

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

check: test

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	@# wrk loads the API far more cheaply than Python clients; install it where we may.
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q wrk >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q wrk >/dev/null 2>&1; }; }; } || \
		echo "wrk is not installed: the API load comes from Python clients instead"
	$(BIN)/python benchmarks/run.py --peers

clean:
	rm -rf $(VENV) build dist *.egg-info
