#!/bin/sh
# The default user from RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS (guest may only connect
# from localhost, so a stack reaching the broker over the network needs its own user).
set -eu
if [ "${1:-rabbitmq-server}" = rabbitmq-server ]; then
    conf=/etc/rabbitmq/conf.d/10-defaults.conf
    {
        echo "listeners.tcp.default = 5672"
        echo "loopback_users = none"
        if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then
            echo "default_user = $RABBITMQ_DEFAULT_USER"
            echo "default_pass = ${RABBITMQ_DEFAULT_PASS:?RABBITMQ_DEFAULT_PASS is required with RABBITMQ_DEFAULT_USER}"
        fi
    } > "$conf"
    shift
    # The server itself, not Debian's wrapper (a shell that would keep SIGTERM from it).
    exec /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
fi
exec "$@"
