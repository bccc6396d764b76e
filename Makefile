# Hookline's commands. Every target works on a new machine: `make venv` installs the
# Python side, deploy/local/stack.py installs and starts Kafka and PostgreSQL.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PKG_DIRS := shared services/api services/router services/deliverer services/retry-scheduler

.PHONY: venv up down test lint bench chaos rebuild-read-model clean

venv: $(VENV)/.installed $(VENV)/bin/hookline

# The `hookline` command: a launcher for hookline.cli in the venv (no build step needed).
$(VENV)/bin/hookline: $(VENV)/.installed
	printf '#!%s\nfrom hookline.cli import main\nmain()\n' "$(CURDIR)/$(PY)" > $@
	chmod +x $@

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	for d in $(PKG_DIRS); do echo "$(CURDIR)/$$d"; done > $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/hookline.pth
	touch $@

up: venv
	$(PY) deploy/local/stack.py up

down:
	@if [ -x $(PY) ]; then $(PY) deploy/local/stack.py down; else python3 deploy/local/stack.py down; fi

test: venv
	$(PY) -m pytest -q

lint: venv
	$(PY) -m ruff check $(PKG_DIRS) tests deploy/local bench
	$(PY) -m ruff format --check $(PKG_DIRS) tests deploy/local bench
	$(PY) -m mypy $(foreach d,$(PKG_DIRS),$(d)/hookline) bench

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
