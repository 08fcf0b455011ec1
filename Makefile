# Everything a fresh machine needs, from the repo's own files: `make demo` runs the example erasure
# end to end on the local emulator; `make test` sets up the environment and runs lint, types, tests.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
VENV := $(CURDIR)/.venv
# Two processes (pytest-xdist), by file; the end-to-end suite in one (tests/conftest.py).
PYTEST_ARGS ?= --durations=25 -n 2
# The lowest declared versions (see test-lowest): a venv of its own, resolved from PyPI at each run.
LOWEST_VENV := $(CURDIR)/.venv-lowest
LOWEST_TESTS ?= tests/core tests/triggers tests/transfers
DIST ?= $(CURDIR)/dist

.PHONY: setup system-deps test lint typecheck pytest test-lowest dist e2e demo dashboard emulator clean

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

# --compile-bytecode: the .pyc files are written once here, so that no Python process of the tests
# (Airflow's components and task processes, subprocesses) compiles Airflow from source again when
# PYTHONDONTWRITEBYTECODE is set, as on CI.
setup: $(UV)
	$(UV) sync --frozen --compile-bytecode

# PostgreSQL (Debian's package) is the second warehouse of the tests; they start it themselves.
system-deps:
	@bash scripts/ensure-system-deps.sh

lint: setup
	$(VENV)/bin/ruff check airflow_provider_personalize_deletion tests dags benchmarks scripts
	$(VENV)/bin/ruff format --check airflow_provider_personalize_deletion tests dags benchmarks scripts

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup system-deps
	UV=$(UV) $(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck pytest test-lowest

# The core, trigger and transfer tests on the lowest versions the project declares, so that a floor in
# pyproject.toml cannot be wrong unnoticed: uv's lowest-direct resolution (not uv.lock), every runtime
# dependency held to the release series of its floor (scripts/lowest_versions.py), the [emulator] extra
# and the dev group at their lowest too. A floor that cannot hold fails here, in the resolver or a test.
test-lowest: setup system-deps
	$(UV) venv --quiet --clear --python $(VENV)/bin/python $(LOWEST_VENV)
	$(VENV)/bin/python scripts/lowest_versions.py > $(LOWEST_VENV)/floors.txt
	$(UV) pip compile --quiet --resolution lowest-direct --constraint $(LOWEST_VENV)/floors.txt \
		--extra emulator --group pyproject.toml:dev --python $(LOWEST_VENV)/bin/python \
		--output-file $(LOWEST_VENV)/requirements.txt pyproject.toml
	$(UV) pip sync --quiet --compile-bytecode --python $(LOWEST_VENV)/bin/python $(LOWEST_VENV)/requirements.txt
	$(UV) pip install --quiet --no-deps --python $(LOWEST_VENV)/bin/python -e .
	@echo "Lowest versions:"; grep -iE "^($$(cut -d= -f1 $(LOWEST_VENV)/floors.txt | paste -sd'|'))==" \
		$(LOWEST_VENV)/requirements.txt | sed 's/^/  /'
	$(LOWEST_VENV)/bin/pytest -p no:cacheprovider --timeout 180 -n 2 $(LOWEST_TESTS)

# The wheel and sdist to install from, and the versions they are tested with: dist/constraints.txt holds
# uv.lock's versions of Airflow 3.3 and every dependency and extra (pip install ... -c dist/constraints.txt).
dist: $(UV)
	rm -rf $(DIST)
	$(UV) build --quiet --out-dir $(DIST)
	$(UV) export --quiet --frozen --no-dev --no-hashes --no-emit-project --all-extras \
		--output-file $(DIST)/constraints.txt

# Only the end-to-end suite: a real Airflow (API server, scheduler, triggerer...), Chromium, Redis.
e2e: setup system-deps
	$(VENV)/bin/pytest -m e2e $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/python scripts/demo.py

# Airflow's API server on what `make demo` left behind: the UI's "Erasure" view shows the demo's run.
dashboard: setup
	$(VENV)/bin/python scripts/dashboard.py $(if $(PORT),--port $(PORT))

emulator: setup
	$(VENV)/bin/personalize-deletion-emulator --port 4566

clean:
	rm -rf .venv .venv-lowest .tools dist .demo .pytest_cache .mypy_cache .ruff_cache
