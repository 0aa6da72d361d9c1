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

.PHONY: run test check lint browser bench bench-network install clean

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

# The whole gate (and CI's: .ci/run calls exactly this): lint, format, types, then every
# test with branch coverage, failing under the floor set in pyproject.toml
# ([tool.coverage.report] fail_under).
test: lint browser
	$(BIN)/pytest -q -p no:cacheprovider --cov=uno.jobs --cov-branch --cov-report=term:skip-covered

# ruff (with the complexity bound C90) and mypy --strict on src/ (pyproject.toml [tool.*]).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

# The console's browser tests drive Debian's Chromium (never a downloaded browser);
# install it where we may. Without it they skip locally and fail in CI.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q chromium >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
		echo "chromium is not installed: the console's browser tests cannot run"

check: test

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	@# wrk loads the API far more cheaply than Python clients; install it where we may.
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q wrk >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q wrk >/dev/null 2>&1; }; }; } || \
		echo "wrk is not installed: the API load comes from Python clients instead"
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# The fair tables: every system at uno-jobs' default (10) and at 50, each at its
# tuned setting, uno-jobs with asynchronous and with durable worker bookkeeping.
BENCH_ARGS ?= --peers --setting 10,50,best --uno-durable both

# PostgreSQL behind an added round trip (root: a network namespace and a veth pair).
bench-network: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/network.py $(NETWORK_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info
