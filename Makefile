# Hookline's commands. Every target works on a new machine: `make venv` installs the
# Python side (uv.lock, through uv), deploy/local/stack.py installs and starts Kafka and
# PostgreSQL.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PKG_DIRS := shared services/api services/router services/deliverer services/retry-scheduler
# The import packages that mypy checks (each is one distribution's part of hookline.*).
PACKAGES := hookline.core hookline.cli hookline.api hookline.router hookline.deliverer hookline.retry_scheduler
# The tests are type-checked too, every body (check_untyped_defs, from strict), but a test
# or helper need not be annotated. Flags rather than a [[tool.mypy.overrides]] entry:
# pytest names test modules by their file (test_x, not tests.x), which no override matches.
MYPY_TESTS := --allow-untyped-defs --allow-incomplete-defs --allow-untyped-calls
# uv, pinned, in a virtualenv of its own (.uv/): it installs the workspace from uv.lock.
UV_VERSION := 0.13.8
UV := .uv/bin/uv
export UV_PYTHON_DOWNLOADS := never

.PHONY: venv lock up down test test-unit lint bench chaos rebuild-read-model clean

# The five distributions (editable, with their commands: hookline, hookline-api, …) and
# the dev tools, exactly as uv.lock pins them; a venv made before uv is made anew.
venv: $(UV)
	@if [ -f $(VENV)/pyvenv.cfg ] && ! grep -q '^uv = ' $(VENV)/pyvenv.cfg; then \
		echo "make: $(VENV) was not made by uv; making it anew"; rm -rf $(VENV); fi
	$(UV) sync --locked --python $(PYTHON) --quiet

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) is needed"; exit 1; }
	$(PYTHON) -m venv .uv
	.uv/bin/python -m pip install -q uv==$(UV_VERSION)

# After a change to a pyproject.toml's dependencies: resolve again and write uv.lock.
lock: $(UV)
	$(UV) lock --python $(PYTHON)

up: venv
	$(PY) deploy/local/stack.py up

down:
	@if [ -x $(PY) ]; then $(PY) deploy/local/stack.py down; else python3 deploy/local/stack.py down; fi

test: venv
	$(PY) -m pytest -q

# The tests that need no broker, database or services: well under a minute.
test-unit: venv
	$(PY) -m pytest -q -m "not e2e and not chaos"

lint: venv
	$(PY) -m ruff check $(PKG_DIRS) tests deploy/local bench
	$(PY) -m ruff format --check $(PKG_DIRS) tests deploy/local bench
	$(PY) -m mypy $(foreach p,$(PACKAGES) bench,-p $(p))
	$(PY) -m mypy $(MYPY_TESTS) tests
	$(VENV)/bin/lint-imports

# The end-to-end benchmark on its own services, topic prefix and database (Kafka and
# PostgreSQL are reused or started); its last line is one JSON object. docs/benchmark.md.
# `make bench N=20000 SUBS=10 BENCH_ARGS="--runs default --profile"`
N ?= 20000
SUBS ?= 10
BENCH_ARGS ?=
bench: venv
	$(PY) -m bench --events $(N) --subs $(SUBS) $(BENCH_ARGS)

# The fault tests (tests/chaos): services SIGKILLed mid-load, a broker of their own stopped
# and restarted, receivers that hang, reset or fail. A few minutes; CI runs them too.
chaos: venv
	HOOKLINE_CHAOS=1 $(PY) -m pytest -q -s tests/chaos

# Replace the subscriptions read model with the fold of hookline.subscriptions. Uses the
# stack `make up` started (.local/stack.env) unless HOOKLINE_DATABASE_URL is set.
rebuild-read-model: venv
	@if [ -z "$$HOOKLINE_DATABASE_URL" ] && [ -f .local/stack.env ]; then \
		set -a; . ./.local/stack.env; set +a; fi; \
	$(PY) -m hookline.api rebuild

clean: down
	rm -rf .local
