# Everything a fresh machine needs, from the repo's own files: `make demo` runs the example erasure
# end to end on the local emulator; `make test` sets up the environment and runs lint, types, tests.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
VENV := $(CURDIR)/.venv
PYTEST_ARGS ?=

.PHONY: setup system-deps test lint typecheck pytest e2e demo emulator clean

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

setup: $(UV)
	$(UV) sync --frozen

# PostgreSQL (Debian's package) is the second warehouse of the tests; they start it themselves.
system-deps:
	@bash scripts/ensure-system-deps.sh

lint: setup
	$(VENV)/bin/ruff check src tests dags benchmarks scripts
	$(VENV)/bin/ruff format --check src tests dags benchmarks scripts

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup system-deps
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# Only the end-to-end suite: a real Airflow (API server, scheduler, triggerer...), Chromium, Redis.
e2e: setup system-deps
	$(VENV)/bin/pytest -m e2e $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/python scripts/demo.py

emulator: setup
	$(VENV)/bin/personalize-deletion-emulator --port 4566

clean:
	rm -rf .venv .tools .demo .pytest_cache .mypy_cache .ruff_cache
