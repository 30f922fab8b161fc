# Developer entry points (DESIGN.md, "Running"). `make` alone lists them.
#
#   make up      start the stack and print the issuer URL (Docker Compose or local processes)
#   make down    stop it
#   make status  which services run
#   make logs    follow the services' logs
#   make test    run the tests (PYTEST_ARGS='-k poll -x' to pass arguments to pytest)
#   make chaos   the fault campaign: real faults under load, about 7 minutes (CI runs it too)
#   make bench   the performance figures, against the stack `make up` started (bench/README.md)
#   make lint    ruff
#   make venv    create .venv and install the project with its test extras and the example plugin
#
# `make up` uses Docker Compose (docker-compose.yml) when a Docker engine answers; otherwise it
# runs the four services as local processes (deploy/local.sh) against Postgres and RabbitMQ on
# localhost, with logs and pids in .run/. `make down` stops whichever was started.
# Settings come from the environment (CIBA_*); `make up` defaults to CIBA_ENV=development,
# CIBA_ISSUER=http://127.0.0.1:8080, CIBA_LOG_FORMAT=json.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
RUN_DIR ?= .run
PYTEST_ARGS ?=
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)
# Marks a stack started with Docker Compose, so `make down` knows which one to stop.
COMPOSE_MARK := $(RUN_DIR)/compose-up
LOCAL := VENV='$(VENV)' RUN_DIR='$(RUN_DIR)' deploy/local.sh
ISSUER = $${CIBA_ISSUER:-http://127.0.0.1:8080}

export VENV RUN_DIR

.PHONY: help venv up down status test chaos bench lint logs

help:
	@sed -n 's/^#   make /  make /p' $(firstword $(MAKEFILE_LIST))

# (Re)install when pyproject.toml (or the example plugin's) is newer than the stamp.
EXAMPLE_PLUGIN := examples/ciba-notifier-example
$(VENV)/.installed: pyproject.toml $(EXAMPLE_PLUGIN)/pyproject.toml
	@if [ ! -x '$(VENV)/bin/python' ]; then \
		echo "creating $(VENV) with $(PYTHON)"; \
		'$(PYTHON)' -m venv '$(VENV)'; \
	fi
	'$(VENV)/bin/pip' install -q -e '.[test]' -e '$(EXAMPLE_PLUGIN)'
	@touch '$@'

venv: $(VENV)/.installed

up: venv
	@if docker info >/dev/null 2>&1; then \
		echo "Docker engine found: $(COMPOSE) up -d --build"; \
		$(COMPOSE) up -d --build && mkdir -p '$(RUN_DIR)' && touch '$(COMPOSE_MARK)' \
		&& echo "CIBA server up: issuer $(ISSUER)"; \
	else \
		echo "no Docker engine: running the services as local processes"; \
		$(LOCAL) start; \
	fi

down:
	@if [ -e '$(COMPOSE_MARK)' ] && docker info >/dev/null 2>&1; then \
		$(COMPOSE) down && rm -f '$(COMPOSE_MARK)'; \
	else \
		$(LOCAL) stop; \
	fi

status:
	@if [ -e '$(COMPOSE_MARK)' ] && docker info >/dev/null 2>&1; then \
		$(COMPOSE) ps; \
	else \
		$(LOCAL) status; \
	fi

test: venv
	'$(VENV)/bin/pytest' -q --ignore=tests/chaos $(PYTEST_ARGS)

chaos: venv
	'$(VENV)/bin/pytest' -q -rA tests/chaos $(PYTEST_ARGS)

bench: venv
	'$(VENV)/bin/python' bench/run.py $(BENCH_ARGS)

lint: venv
	'$(VENV)/bin/ruff' check .

logs:
	@if [ -e '$(COMPOSE_MARK)' ] && docker info >/dev/null 2>&1; then \
		$(COMPOSE) logs -f; \
	else \
		tail -n 50 -F '$(RUN_DIR)'/*.log; \
	fi
