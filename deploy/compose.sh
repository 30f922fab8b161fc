#!/usr/bin/env bash
# `make up | down | status | logs`: the whole stack under one engine.
#
#   deploy/compose.sh up | down [--volumes] | status | logs | admin ARGS...
#
# `admin` runs `ciba-admin ARGS` where the stack runs: inside the gateway container, or from
# the venv for local processes.
#
# CIBA_ENGINE chooses the engine; unset, the first that answers wins:
#   docker  Docker Compose (`docker compose`, else `docker-compose`), when `docker info` answers
#   podman  podman-compose, when Podman and podman-compose are installed
#   local   the four services as local processes (deploy/local.sh) against the Postgres and
#           RabbitMQ on this machine
# `up` records the engine in RUN_DIR/engine, so `down`, `status` and `logs` act on the same
# stack whatever answers later. CIBA_COMPOSE_PROJECT (default ciba) names the Compose project,
# so a second stack (the Compose e2e test's) can run beside yours.
#
# Under Podman, the images deploy/images/build.sh made are used when they exist and no
# CIBA_IMAGE / CIBA_POSTGRES_IMAGE / CIBA_RABBITMQ_IMAGE says otherwise.
#
# Healthchecks: Docker runs them itself, and `up` waits for them (`--wait`). Podman schedules
# them with systemd timers; on a host without systemd they never run on their own, and
# podman-compose cannot wait for `service_healthy` before Podman 4.6. So under Podman, `up`
# runs every container's healthcheck itself (`podman healthcheck run`) until all pass, and
# the services wait for Postgres and RabbitMQ on their own (as they must on Kubernetes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
RUN_DIR="${RUN_DIR:-.run}"
ENGINE_MARK="$RUN_DIR/engine"
PROJECT="${CIBA_COMPOSE_PROJECT:-ciba}"
ISSUER="${CIBA_ISSUER:-http://127.0.0.1:${CIBA_GATEWAY_PORT:-8080}}"
UP_TIMEOUT_SEC="${CIBA_UP_TIMEOUT_SEC:-240}"

say() { printf '%s\n' "$*"; }
die() { printf 'make: %s\n' "$*" >&2; exit 1; }

podman_compose() {
    if [[ -x "$VENV/bin/podman-compose" ]]; then echo "$VENV/bin/podman-compose"
    elif command -v podman-compose >/dev/null; then command -v podman-compose
    else return 1
    fi
}

pick_engine() {
    case "${CIBA_ENGINE:-}" in
        docker|podman|local) echo "$CIBA_ENGINE"; return ;;
        "") ;;
        *) die "CIBA_ENGINE=$CIBA_ENGINE: say docker, podman or local" ;;
    esac
    if docker info >/dev/null 2>&1; then echo docker
    elif command -v podman >/dev/null && podman_compose >/dev/null; then echo podman
    else echo local
    fi
}

compose() {
    case "$engine" in
        docker)
            if docker compose version >/dev/null 2>&1; then docker compose -p "$PROJECT" "$@"
            else docker-compose -p "$PROJECT" "$@"; fi ;;
        podman)
            local tool
            tool="$(podman_compose)" || die "podman-compose is not installed (make venv installs it)"
            "$tool" -p "$PROJECT" "$@" ;;
    esac
}

use_local_images() {
    local image var
    for pair in CIBA_IMAGE=localhost/ciba-server:dev CIBA_POSTGRES_IMAGE=localhost/ciba-postgres:15 \
                CIBA_RABBITMQ_IMAGE=localhost/ciba-rabbitmq:3; do
        var="${pair%%=*}" image="${pair#*=}"
        if [[ -z "${!var:-}" ]] && podman image exists "$image"; then
            export "$var=$image"
        fi
    done
}

containers() {  # this project's containers, one name per line
    podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'
}

# Run each container's healthcheck until every one passes; the one-shot migration must have
# exited 0. Prints what is still waiting every 10 s.
podman_wait_healthy() {
    local deadline=$((SECONDS + UP_TIMEOUT_SEC)) last_report=0 waiting name state code
    while :; do
        waiting=()
        for name in $(containers); do
            state="$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}} {{if .Config.Healthcheck}}check{{end}}' "$name")"
            read -r status code check <<<"$state"
            if [[ "$name" == *migrate* ]]; then
                if [[ "$status" == exited && "$code" != 0 ]]; then
                    podman logs --tail 20 "$name" >&2
                    die "the migration job failed (exit $code): its last lines are above"
                fi
                [[ "$status" == exited ]] || waiting+=("$name")
            elif [[ "$status" != running ]]; then
                waiting+=("$name ($status)")
            elif [[ -n "${check:-}" ]] && ! podman healthcheck run "$name" >/dev/null 2>&1; then
                waiting+=("$name")
            fi
        done
        [[ ${#waiting[@]} -eq 0 ]] && return 0
        if (( SECONDS >= deadline )); then
            die "not healthy after ${UP_TIMEOUT_SEC}s: ${waiting[*]} (make logs shows why)"
        fi
        if (( SECONDS - last_report >= 10 )); then
            say "waiting for: ${waiting[*]}"
            last_report=$SECONDS
        fi
        sleep 2
    done
}

issuer_answers() {
    "$VENV/bin/python" - "$ISSUER" <<'EOF'
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/.well-known/openid-configuration", timeout=3)
EOF
}

up() {
    engine="$(pick_engine)"
    mkdir -p "$RUN_DIR"
    case "$engine" in
        local)
            say "running the services as local processes (CIBA_ENGINE=docker or podman for containers)"
            echo local >"$ENGINE_MARK"
            VENV="$VENV" RUN_DIR="$RUN_DIR" deploy/local.sh start
            return ;;
        docker)
            say "Docker: compose up -d --build --wait"
            echo docker >"$ENGINE_MARK"
            compose up -d --build --wait ;;
        podman)
            use_local_images
            local build=(--build)
            podman image exists "${CIBA_IMAGE:-ciba-server:dev}" && build=()
            say "Podman: $(podman_compose) up -d --no-deps ${build[*]} (images: ${CIBA_IMAGE:-ciba-server:dev}, ${CIBA_POSTGRES_IMAGE:-postgres:16}, ${CIBA_RABBITMQ_IMAGE:-rabbitmq:3.13-management})"
            echo podman >"$ENGINE_MARK"
            # --no-deps: Podman 4.3 cannot start a container whose --requires chain is two
            # deep (gateway -> migrate -> postgres): "not found in input list". Each service
            # waits for what it needs instead, and the loop below for every healthcheck.
            compose up -d --no-deps "${build[@]}" >"$RUN_DIR/compose-up.log" 2>&1 \
                || { tail -20 "$RUN_DIR/compose-up.log" >&2; die "podman-compose up failed (all of it: $RUN_DIR/compose-up.log)"; }
            podman_wait_healthy ;;
    esac
    local deadline=$((SECONDS + 30))
    until issuer_answers 2>/dev/null; do
        (( SECONDS < deadline )) || die "the gateway does not answer at $ISSUER"
        sleep 1
    done
    say "CIBA server up ($engine): issuer $ISSUER"
}

recorded_engine() {
    if [[ -f "$ENGINE_MARK" ]]; then cat "$ENGINE_MARK"; else echo local; fi
}

down() {  # down [--volumes]: the data volumes go too
    engine="$(recorded_engine)"
    case "$engine" in
        local) VENV="$VENV" RUN_DIR="$RUN_DIR" deploy/local.sh stop ;;
        *) compose down "$@" >"$RUN_DIR/compose-down.log" 2>&1 \
               || { tail -20 "$RUN_DIR/compose-down.log" >&2; die "compose down failed"; }
           if [[ "${1:-}" == --volumes ]]; then say "stack and its data volumes removed ($engine)"
           else say "stack removed ($engine; its data volumes are kept: make down VOLUMES=1 removes them)"; fi ;;
    esac
    rm -f "$ENGINE_MARK"
}

status() {
    engine="$(recorded_engine)"
    case "$engine" in
        local) VENV="$VENV" RUN_DIR="$RUN_DIR" deploy/local.sh status ;;
        *) compose ps ;;
    esac
}

admin() {
    engine="$(recorded_engine)"
    case "$engine" in
        local) CIBA_ENV="${CIBA_ENV:-development}" "$VENV/bin/ciba-admin" "$@" ;;
        # A terminal gets one in the container too, so ciba-admin can prompt for a secret;
        # otherwise standard input is passed on (--password-stdin and the like).
        *) if [[ -t 0 && -t 1 ]]; then compose exec gateway ciba-admin "$@"
           else compose exec -T gateway ciba-admin "$@"; fi ;;
    esac
}

logs() {
    engine="$(recorded_engine)"
    case "$engine" in
        local) tail -n 50 -F "$RUN_DIR"/*.log ;;
        *) compose logs -f ;;
    esac
}

command="${1:-}"
shift || true
case "$command" in
    up|down|status|logs|admin) "$command" "$@" ;;
    *) echo "usage: deploy/compose.sh up | down [--volumes] | status | logs | admin ARGS..." >&2; exit 2 ;;
esac
