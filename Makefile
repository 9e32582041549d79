# The two quickstart commands are `make test` and `make run`; both set everything up
# (virtualenv, pinned installs) on a machine that has only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test run lint plan cost bench clean

$(STAMP): requirements.txt requirements-dev.txt auth_service/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# `make bench` only: the fastapi-users reference app and the load generator (their pins clash with the service's).
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp

$(BENCH_STAMP): bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	touch $@

## lint + architecture contracts + the whole test suite against real PostgreSQL/Redis
test: lint
	$(BIN)/python -m pytest

## serve the API on http://127.0.0.1:8000 (/docs), starting throwaway PostgreSQL/Redis if none is reachable
run: $(STAMP)
	$(BIN)/python -m devenv run

## print, offline, every resource the staging stack would create (real program under Pulumi mocks; no AWS)
plan: $(STAMP)
	$(BIN)/python -m scripts.plan

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy auth_service components devenv
	$(BIN)/hadolint auth_service/Dockerfile
	$(BIN)/zizmor --offline --quiet .github/workflows

## estimated monthly USD cost of the staging stack, per resource and component (offline, under mocks)
cost: $(STAMP)
	$(BIN)/python -m scripts.cost

## side-by-side load benchmark against a fastapi-users reference app (~4 min; not part of `make test`)
bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .ruff_cache .mypy_cache
