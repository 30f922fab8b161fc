#!/usr/bin/env bash
# `make test-containers`: the integration tier with its Postgres and RabbitMQ started by
# testcontainers, through the engine's Docker-compatible API.
#
# With a Docker engine (`docker info` answers) it uses that. Otherwise it starts Podman's API
# service on a socket of its own (RUN_DIR/podman.sock) for the run and points DOCKER_HOST at
# it. Images: CIBA_POSTGRES_IMAGE / CIBA_RABBITMQ_IMAGE, by default the ones
# deploy/images/build.sh built when they exist, else the official ones.
#
# Ryuk, testcontainers' reaper container, is off under Podman (TESTCONTAINERS_RYUK_DISABLED):
# it needs the engine's socket mounted into a container pulled from Docker Hub, which an
# engine that cannot pull cannot start. The session removes its own containers at the end
# (they run inside `with` blocks); after a killed run, `podman ps -a` shows what is left.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
RUN_DIR="${RUN_DIR:-.run}"

service_pid=""
cleanup() { [[ -n "$service_pid" ]] && kill "$service_pid" 2>/dev/null || true; }
trap cleanup EXIT

if [[ -z "${DOCKER_HOST:-}" ]] && ! docker info >/dev/null 2>&1; then
    command -v podman >/dev/null || { echo "test-containers: neither Docker nor Podman answers" >&2; exit 2; }
    mkdir -p "$RUN_DIR"
    socket="$(realpath "$RUN_DIR")/podman.sock"
    rm -f "$socket"
    podman system service --time=0 "unix://$socket" >"$RUN_DIR/podman-service.log" 2>&1 &
    service_pid=$!
    for _ in $(seq 100); do [[ -S "$socket" ]] && break; sleep 0.1; done
    export DOCKER_HOST="unix://$socket"
    export TESTCONTAINERS_RYUK_DISABLED=true
    # The engine runs on this machine and publishes ports here. testcontainers guesses
    # otherwise when the tests themselves run in a container (a CI sandbox): it then asks for
    # the container's gateway address, which Podman's list API does not report (KeyError
    # 'HostConfig').
    export TESTCONTAINERS_CONNECTION_MODE="${TESTCONTAINERS_CONNECTION_MODE:-docker_host}"
    engine=podman
else
    engine=docker
fi

local_image() { "$engine" image inspect "$1" >/dev/null 2>&1 && echo "$1"; }
export CIBA_POSTGRES_IMAGE="${CIBA_POSTGRES_IMAGE:-$(local_image localhost/ciba-postgres:15 || echo postgres:16)}"
export CIBA_RABBITMQ_IMAGE="${CIBA_RABBITMQ_IMAGE:-$(local_image localhost/ciba-rabbitmq:3 || echo rabbitmq:3.13)}"
unset CIBA_TEST_DATABASE_URL CIBA_TEST_AMQP_URL
echo "test-containers: $engine (DOCKER_HOST=${DOCKER_HOST:-default}), $CIBA_POSTGRES_IMAGE, $CIBA_RABBITMQ_IMAGE"
"$VENV/bin/pytest" -q tests/integration "$@"
