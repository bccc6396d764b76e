# Hookline's commands. Every target works on a new machine: `make venv` installs the
# Python side, deploy/local/stack.py installs and starts Kafka and PostgreSQL.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PKG_DIRS := shared services/api services/router services/deliverer services/retry-scheduler

.PHONY: venv up down test lint bench rebuild-read-model clean

venv: $(VENV)/.installed

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
	$(PY) -m ruff check $(PKG_DIRS) tests deploy/local
	$(PY) -m ruff format --check $(PKG_DIRS) tests deploy/local
	$(PY) -m mypy $(foreach d,$(PKG_DIRS),$(d)/hookline)

clean: down
	rm -rf .local
