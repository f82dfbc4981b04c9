# Vitrina: two set-up commands, `make demo` and `make test`. Both create .venv when needed and are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.vitrina-runtime
DEV_STAMP := $(VENV)/.vitrina-dev
DEMO_ARGS ?=
DEMO_UI_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help demo demo-ui test lint typecheck pytest faults system-deps clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

demo: $(RUNTIME_STAMP)  ## The whole system: broker, back office (URL and login printed), a kiosk on the real models
	$(BIN)/python -m backoffice.web.demo $(DEMO_ARGS)

demo-ui: $(RUNTIME_STAMP)  ## The kiosk's screen alone (headless and 30 s where there is no display)
	$(BIN)/kiosk demo $(DEMO_UI_ARGS)

test: $(DEV_STAMP) system-deps lint typecheck pytest  ## Create .venv, install dev extras, run lint, types and every test

lint: $(DEV_STAMP)  ## ruff (lint and formatting) and the import contracts (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)  ## mypy, strict, on every package
	$(BIN)/mypy

pytest: $(DEV_STAMP) system-deps  ## The whole test suite, integration and slow tests included
	$(BIN)/pytest

faults: $(DEV_STAMP) system-deps  ## The fault suite (docs/reliability.md): prints its table, fails on any red row
	$(BIN)/python -m tests.faults

system-deps:  ## Install the Debian packages the tests need (mosquitto and its clients, xvfb, chromium, faketime, systemd-analyze) when missing, as root
	@missing=""; \
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v mosquitto_pub >/dev/null 2>&1 || missing="$$missing mosquitto-clients"; \
	command -v Xvfb >/dev/null 2>&1 || missing="$$missing xvfb"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v faketime >/dev/null 2>&1 || missing="$$missing faketime"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing the Debian packages:$$missing (the tests start a private broker, a virtual display and a browser)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	elif echo "$$missing" | grep -qE 'mosquitto|chromium'; then \
		echo "make: the tests need the Mosquitto broker, its clients and Debian's chromium (packages 'mosquitto', 'mosquitto-clients', 'chromium')." >&2; \
		echo "      Install it with:  sudo apt-get install$$missing   and run make again." >&2; \
		exit 1; \
	else \
		echo "make: missing Debian packages:$$missing; the tests that need them (the real window, the clock-off" >&2; \
		echo "      self-test, the systemd units' check) will be skipped, saying why." >&2; \
		echo "      Install them with:  sudo apt-get install$$missing" >&2; \
	fi

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Vitrina needs Python 3.11 or newer, found " + sys.version.split()[0])'
	@if ! $(PYTHON) -c 'import ensurepip' >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "make: installing the Debian package 'python3-venv'"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
		else \
			echo "make: Python's venv module is missing (Debian/Ubuntu package 'python3-venv')." >&2; \
			echo "      Install it with:  sudo apt-get install python3-venv   and run make again." >&2; \
			exit 1; \
		fi; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The demo runs the whole system on one machine: the device side and the server side.
$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[kiosk,backoffice]'
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,kiosk,backoffice]'
	@touch $@ $(RUNTIME_STAMP)

clean:  ## Remove .venv and caches (the models and your data stay)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis demo-out test-artifacts
