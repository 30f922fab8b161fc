# Developer entry points (docs/architecture.md, "Running"). `make` alone lists them.
#
#   make up      start the stack and print the issuer URL (Docker Compose, Podman, or local processes)
#   make down    stop it (the containers go; their data volumes stay)
#   make status  which services run
#   make logs    follow the services' logs
#   make test    run the tests (PYTEST_ARGS='-k poll -x' to pass arguments to pytest)
#   make test-unit  the unit tier alone: the protocol's rules and pure logic, no Postgres or RabbitMQ, seconds
#   make test-containers  the integration tier against Postgres and RabbitMQ from testcontainers (Docker, or Podman)
#   make test-compose     the README walk-through against docker-compose.yml in containers (CIBA_ENGINE chooses)
#   make chaos   the fault campaign: real faults under load, about 7 minutes (CI runs it too)
#   make bench   the performance figures, against the stack `make up` started (bench/README.md)
#   make lint    ruff, mypy --strict on shared/ and services/, and hadolint on the Dockerfile and Containerfiles
#   make venv    create .venv and install the project with its test extras, the example plugin and clients/python
#
# `make up` (deploy/compose.sh) runs docker-compose.yml with Docker when `docker info` answers,
# else with podman-compose when Podman is installed, else the four services as local processes
# (deploy/local.sh) against Postgres and RabbitMQ on localhost, with logs and pids in .run/.
# CIBA_ENGINE=docker|podman|local chooses. `make down` stops whichever was started.
# Settings come from the environment (CIBA_*); `make up` defaults to CIBA_ENV=development,
# CIBA_ISSUER=http://127.0.0.1:8080, CIBA_LOG_FORMAT=json.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
RUN_DIR ?= .run
PYTEST_ARGS ?=
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)

export VENV RUN_DIR

.PHONY: help venv up down status test test-unit test-containers test-compose chaos bench lint logs

help:
	@sed -n 's/^#   make /  make /p' $(firstword $(MAKEFILE_LIST))

# (Re)install when pyproject.toml (or the example plugin's, or the client library's) is newer than the stamp.
EXAMPLE_PLUGIN := examples/ciba-notifier-example
CLIENT_LIBRARY := clients/python
$(VENV)/.installed: pyproject.toml $(EXAMPLE_PLUGIN)/pyproject.toml $(CLIENT_LIBRARY)/pyproject.toml
	@if [ ! -x '$(VENV)/bin/python' ]; then \
		echo "creating $(VENV) with $(PYTHON)"; \
		'$(PYTHON)' -m venv '$(VENV)'; \
	fi
	'$(VENV)/bin/pip' install -q -e '.[test]' -e '$(EXAMPLE_PLUGIN)' -e '$(CLIENT_LIBRARY)'
	@touch '$@'

venv: $(VENV)/.installed

up: venv
	@deploy/compose.sh up

down:
	@deploy/compose.sh down $(if $(VOLUMES),--volumes)

status:
	@deploy/compose.sh status

test: venv
	'$(VENV)/bin/pytest' -q --ignore=tests/chaos --ignore=tests/compose $(PYTEST_ARGS)

test-unit: venv
	'$(VENV)/bin/pytest' -q tests/unit $(PYTEST_ARGS)

test-containers: venv
	deploy/test-containers.sh $(PYTEST_ARGS)

test-compose: venv
	'$(VENV)/bin/pytest' -q -rA tests/compose $(PYTEST_ARGS)

chaos: venv
	'$(VENV)/bin/pytest' -q -rA tests/chaos $(PYTEST_ARGS)

bench: venv
	'$(VENV)/bin/python' bench/run.py $(BENCH_ARGS)

lint: venv
	'$(VENV)/bin/ruff' check .
	'$(VENV)/bin/mypy'
	'$(VENV)/bin/hadolint' deploy/Dockerfile deploy/images/*/Containerfile

logs:
	@deploy/compose.sh logs
