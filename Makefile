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
#   make venv    create .venv: requirements-test.lock, then the project, the example plugin and clients/python
#   make lock    resolve requirements.lock and requirements-test.lock again (UPGRADE=1: to the newest releases allowed)
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

.PHONY: help venv lock up down status test test-unit test-containers test-compose chaos bench lint logs

help:
	@sed -n 's/^#   make /  make /p' $(firstword $(MAKEFILE_LIST))

# The lock files pin every third-party package, with the sha256 of each of its files, resolved
# by uv for CPython 3.11 on Linux:
#   requirements.lock       the runtime dependencies and the otel extra: what deploy/Dockerfile installs
#   requirements-test.lock  those same versions, the test extra's tools, and what clients/python needs:
#                           what `make venv` installs, so CI and every developer test the same releases
# With hashes, pip refuses a file that is not the one locked (--require-hashes). The three local
# packages (this project, the example plugin, clients/python) stay out of the locks: their
# hashes would change with every edit, so they are installed editable afterwards with --no-deps,
# and `pip check` proves the lock holds everything they require (a dependency added to a
# pyproject.toml without `make lock` fails here, by name).
LOCK := requirements.lock
TEST_LOCK := requirements-test.lock
EXAMPLE_PLUGIN := examples/ciba-notifier-example
CLIENT_LIBRARY := clients/python

# (Re)install when a lock file or a pyproject.toml is newer than the stamp.
$(VENV)/.installed: $(TEST_LOCK) pyproject.toml $(EXAMPLE_PLUGIN)/pyproject.toml $(CLIENT_LIBRARY)/pyproject.toml
	@if [ ! -x '$(VENV)/bin/python' ]; then \
		echo "creating $(VENV) with $(PYTHON)"; \
		'$(PYTHON)' -m venv '$(VENV)'; \
	fi
	'$(VENV)/bin/pip' install -q --require-hashes -r '$(TEST_LOCK)'
	'$(VENV)/bin/pip' install -q --no-deps -e . -e '$(EXAMPLE_PLUGIN)' -e '$(CLIENT_LIBRARY)'
	'$(VENV)/bin/pip' check
	@touch '$@'

venv: $(VENV)/.installed

# uv comes from the venv (the test lock pins it); `make venv` installs it even when a changed
# pyproject.toml then fails `pip check`. The existing pins are kept unless UPGRADE=1; the test
# lock is resolved within the runtime lock, so tests run on the versions that ship.
UV_COMPILE = '$(VENV)/bin/uv' pip compile --quiet --python-version 3.11 --python-platform linux \
	--generate-hashes --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)
lock:
	@test -x '$(VENV)/bin/uv' || { echo "make lock: no $(VENV)/bin/uv: run make venv first" >&2; exit 1; }
	$(UV_COMPILE) pyproject.toml --extra otel -o '$(LOCK)'
	$(UV_COMPILE) pyproject.toml '$(CLIENT_LIBRARY)/pyproject.toml' '$(EXAMPLE_PLUGIN)/pyproject.toml' \
		--extra test -c '$(LOCK)' -o '$(TEST_LOCK)'

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
