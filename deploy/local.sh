#!/usr/bin/env bash
# Run the four CIBA services as local processes (no Docker): `make up` / `make down` call this.
#
#   deploy/local.sh start    ensure Postgres and RabbitMQ, migrate, start the services, wait
#   deploy/local.sh stop     SIGTERM the services, wait for them to exit, report exit codes
#   deploy/local.sh status   which services run, and how the stopped ones exited
#   deploy/local.sh backing  only make sure Postgres and RabbitMQ answer (starting them if installed)
#
# Settings come from the environment (README, "Process settings"); defaults here are for development:
# CIBA_ENV=development, CIBA_ISSUER=http://127.0.0.1:8080, CIBA_LOG_FORMAT=json.
# VENV (default .venv) is the virtualenv with the project installed; RUN_DIR (default .run)
# holds <service>.pid, <service>.exit and <service>.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${VENV:-.venv}"
RUN_DIR="${RUN_DIR:-.run}"
SERVICES=(gateway request-processor notifier token-delivery)
START_TIMEOUT="${START_TIMEOUT:-30}"     # seconds for discovery to answer after the start
STOP_TIMEOUT="${STOP_TIMEOUT:-20}"       # seconds for the services to exit after SIGTERM
BACKING_TIMEOUT="${BACKING_TIMEOUT:-60}" # seconds for Postgres / RabbitMQ to come up

export CIBA_ENV="${CIBA_ENV:-development}"
export CIBA_ISSUER="${CIBA_ISSUER:-http://127.0.0.1:8080}"
export CIBA_LOG_FORMAT="${CIBA_LOG_FORMAT:-json}"
DATABASE_URL="${CIBA_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/ciba}"
AMQP_URL="${CIBA_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}"

say() { printf '%s\n' "$*"; }
die() { printf 'local.sh: %s\n' "$*" >&2; exit 1; }

pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }
exit_file() { printf '%s/%s.exit' "$RUN_DIR" "$1"; }
log_file() { printf '%s/%s.log' "$RUN_DIR" "$1"; }

# The pid of a service we started and that still runs (empty otherwise). The command line is
# checked so a recycled pid is never taken for one of ours.
live_pid() {
    local file pid
    file="$(pid_file "$1")"
    [[ -s "$file" ]] || return 0
    pid="$(<"$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "ciba-$1"; then
        printf '%s' "$pid"
    fi
}

# host port of a URL (defaults: 5432 for postgresql, 5672 for amqp).
host_port() {
    "$VENV/bin/python" - "$1" <<'PY'
import sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
default = {"postgresql": 5432, "postgres": 5432, "amqp": 5672, "amqps": 5671}.get(u.scheme, 0)
print(u.hostname or "127.0.0.1", u.port or default)
PY
}

# Whether the gateway could listen on host:port (the bind it will do, tried and undone).
port_free() {
    "$VENV/bin/python" - "$1" "$2" <<'PY'
import errno, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
with socket.socket(family, socket.SOCK_STREAM) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
    except OSError as exc:
        sys.exit(1 if exc.errno == errno.EADDRINUSE else 0)  # other errors: let the gateway say
PY
}

tcp_open() { timeout 2 bash -c ": </dev/tcp/$1/$2" 2>/dev/null; }

is_loopback() { [[ "$1" == 127.* || "$1" == localhost || "$1" == ::1 ]]; }

wait_for_tcp() { # name host port seconds
    local deadline=$((SECONDS + $4))
    until tcp_open "$2" "$3"; do
        ((SECONDS < deadline)) || die "$1 does not answer on $2:$3 after $4 s"
        sleep 1
    done
}

ensure_postgres() {
    local host port
    read -r host port < <(host_port "$DATABASE_URL")
    if tcp_open "$host" "$port"; then
        say "postgres: answering on $host:$port"
        return
    fi
    is_loopback "$host" || die "postgres does not answer on $host:$port (CIBA_DATABASE_URL)"
    if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
        local version
        version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)"
        say "postgres: not answering on $host:$port; starting cluster $version/main"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    else
        die "postgres does not answer on $host:$port and pg_ctlcluster is not available"
    fi
    wait_for_tcp postgres "$host" "$port" "$BACKING_TIMEOUT"
    say "postgres: up"
}

ensure_rabbitmq() {
    local host port
    read -r host port < <(host_port "$AMQP_URL")
    if tcp_open "$host" "$port"; then
        say "rabbitmq: answering on $host:$port"
        return
    fi
    is_loopback "$host" || die "rabbitmq does not answer on $host:$port (CIBA_AMQP_URL)"
    command -v rabbitmq-server >/dev/null \
        || die "rabbitmq does not answer on $host:$port and rabbitmq-server is not installed"
    say "rabbitmq: not answering on $host:$port; starting rabbitmq-server -detached"
    rabbitmq-server -detached || true
    wait_for_tcp rabbitmq "$host" "$port" "$BACKING_TIMEOUT"
    say "rabbitmq: up"
}

declare -A LOG_OFFSET=()

# Whether a service started by this run has logged that it is ready.
logged_ready() {
    # Not grep -q: it would stop reading at the first match, and tail, killed by SIGPIPE, would
    # fail the pipeline under pipefail (more likely the longer the log has grown).
    tail -c "+$((${LOG_OFFSET[$1]:-0} + 1))" "$(log_file "$1")" 2>/dev/null | grep service_ready >/dev/null
}

all_ready() {
    local svc
    discovery_ok || return 1
    for svc in "$@"; do logged_ready "$svc" || return 1; done
}

discovery_ok() {
    curl -fsS -o /dev/null --max-time 3 "$CIBA_ISSUER/.well-known/openid-configuration" 2>/dev/null
}

start_one() {
    local svc="$1" bin="$VENV/bin/ciba-$1" pidf exitf
    pidf="$(pid_file "$svc")"
    exitf="$(exit_file "$svc")"
    [[ -x "$bin" ]] || die "$bin not found: run 'make venv'"
    rm -f "$pidf" "$exitf"
    # Where this run's log lines begin, to see its service_ready line (logs are appended).
    LOG_OFFSET[$svc]="$(stat -c %s "$(log_file "$svc")" 2>/dev/null || echo 0)"
    # A small detached wrapper starts the service, writes its pid, and records its exit code
    # once it ends (so `stop` can tell a clean exit 0 from a crash). SIGTERM goes to the service
    # itself, not to the wrapper.
    # shellcheck disable=SC2016  # expanded by the inner bash
    setsid nohup bash -c '"$1" & echo "$!" >"$2"; wait "$!"; echo "$?" >"$3"' \
        ciba-wrapper "$bin" "$pidf" "$exitf" >>"$(log_file "$svc")" 2>&1 </dev/null &
    local i
    for i in $(seq 50); do
        [[ -s "$pidf" ]] && break
        sleep 0.1
    done
    [[ -s "$pidf" ]] || die "$svc did not start (see $(log_file "$svc"))"
    say "started $svc (pid $(<"$pidf"), log $(log_file "$svc"))"
}

cmd_start() {
    mkdir -p "$RUN_DIR"
    local svc pid missing=() running=()
    for svc in "${SERVICES[@]}"; do
        pid="$(live_pid "$svc")"
        if [[ -n "$pid" ]]; then running+=("$svc($pid)"); else missing+=("$svc"); fi
    done
    if ((${#missing[@]} == 0)); then
        say "CIBA server already running (${running[*]}): issuer $CIBA_ISSUER"
        return 0
    fi
    ((${#running[@]} == 0)) || say "already running: ${running[*]}; starting ${missing[*]}"

    # Someone else on the gateway's port would answer our readiness check: refuse instead.
    if [[ " ${missing[*]} " == *" gateway "* ]]; then
        local http_host="${CIBA_HTTP_HOST:-127.0.0.1}" http_port="${CIBA_HTTP_PORT:-8080}"
        if ! port_free "$http_host" "$http_port"; then
            die "port $http_port on $http_host is already in use by another process: stop it or set CIBA_HTTP_PORT (and CIBA_ISSUER)"
        fi
    fi

    ensure_postgres
    ensure_rabbitmq

    say "migrating: ciba-admin db upgrade --create-database (CIBA_ENV=$CIBA_ENV)"
    local out
    if ! out="$("$VENV/bin/ciba-admin" db upgrade --create-database 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "database migration failed"
    fi
    printf '%s\n' "$out" | tr -d '\n' | tr -s ' ' | sed 's/^/migrate: /'
    echo

    for svc in "${missing[@]}"; do
        start_one "$svc"
    done

    say "waiting up to ${START_TIMEOUT} s for the services to be ready and $CIBA_ISSUER/.well-known/openid-configuration to answer"
    local deadline=$((SECONDS + START_TIMEOUT))
    until all_ready "${missing[@]}"; do
        for svc in "${missing[@]}"; do
            if [[ -z "$(live_pid "$svc")" ]]; then
                tail -n 20 "$(log_file "$svc")" >&2 || true
                stop_services "${missing[@]}" >/dev/null 2>&1 || true
                die "$svc exited during start-up (exit $(cat "$(exit_file "$svc")" 2>/dev/null || echo '?')); log above"
            fi
        done
        if ((SECONDS >= deadline)); then
            local what="not every service logged service_ready within ${START_TIMEOUT} s; see $RUN_DIR/*.log"
            if ! discovery_ok; then
                tail -n 30 "$(log_file gateway)" >&2 || true
                what="discovery did not answer within ${START_TIMEOUT} s; gateway log above"
            fi
            stop_services "${missing[@]}" >/dev/null 2>&1 || true
            die "$what"
        fi
        sleep 0.5
    done
    say "CIBA server up: issuer $CIBA_ISSUER"
}

# SIGTERM the named services, wait up to STOP_TIMEOUT for them to exit, report exit codes.
stop_services() {
    local svc pid pids=() names=()
    for svc in "$@"; do
        pid="$(live_pid "$svc")"
        if [[ -n "$pid" ]]; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            names+=("$svc")
            say "sent SIGTERM to $svc (pid $pid)"
        fi
    done
    if ((${#pids[@]} == 0)); then
        say "no local CIBA services running"
        rm -f "$RUN_DIR"/*.pid
        return 0
    fi
    local deadline=$((SECONDS + STOP_TIMEOUT)) i alive
    while :; do
        alive=()
        for i in "${!pids[@]}"; do
            kill -0 "${pids[$i]}" 2>/dev/null && alive+=("${names[$i]}")
        done
        ((${#alive[@]} == 0)) && break
        if ((SECONDS >= deadline)); then
            say "still running after ${STOP_TIMEOUT} s: ${alive[*]}; sending SIGKILL" >&2
            for i in "${!pids[@]}"; do kill -KILL "${pids[$i]}" 2>/dev/null || true; done
            sleep 1
            break
        fi
        sleep 0.2
    done
    local failed=0 code
    for svc in "${names[@]}"; do
        for i in $(seq 20); do [[ -s "$(exit_file "$svc")" ]] && break; sleep 0.1; done
        code="$(cat "$(exit_file "$svc")" 2>/dev/null || echo '?')"
        say "stopped $svc (exit $code)"
        [[ "$code" == 0 ]] || failed=1
        rm -f "$(pid_file "$svc")"
    done
    ((failed == 0)) || die "a service did not exit cleanly: see $RUN_DIR/*.log"
}

cmd_stop() { stop_services "${SERVICES[@]}"; }

cmd_status() {
    local svc pid any=1  # any=0 once one service runs
    for svc in "${SERVICES[@]}"; do
        pid="$(live_pid "$svc")"
        if [[ -n "$pid" ]]; then
            say "$svc: running (pid $pid)"
            any=0
        elif [[ -s "$(exit_file "$svc")" ]]; then
            say "$svc: stopped (last exit $(<"$(exit_file "$svc")"))"
        else
            say "$svc: not running"
        fi
    done
    if ((any == 0)); then
        if discovery_ok; then say "discovery: answering at $CIBA_ISSUER"; else say "discovery: not answering at $CIBA_ISSUER"; fi
    fi
}

cmd_backing() {
    ensure_postgres
    ensure_rabbitmq
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    backing) cmd_backing ;;
    *) die "usage: $0 start|stop|status|backing" ;;
esac
