"""ciba-admin: the operator's command line (docs/architecture.md, "Interfaces others rely on").

Every command prints JSON on success and exits 0; on failure it prints one line to stderr and
exits non-zero. It reads the same CIBA_* settings as the services.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import ValidationError

from services.admin import arguments, commands
from shared.clock import rfc3339
from shared.db import migrate
from shared.logging import configure_logging
from shared.settings import Settings, describe_invalid

COMMANDS: dict[tuple[str, str], Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, Any]]] = {
    ("db", "upgrade"): commands.db_upgrade,
    ("db", "status"): commands.db_status,
    ("feature", "enable"): commands.feature_enable,
    ("feature", "disable"): commands.feature_disable,
    ("config", "get"): commands.config_get,
    ("config", "set"): commands.config_set,
    ("config", "unset"): commands.config_unset,
    ("user", "add"): commands.user_add,
    ("user", "set-code"): commands.user_set_code,
    ("user", "set-totp"): commands.user_set_totp,
    ("user", "list"): commands.user_list,
    ("user", "show"): commands.user_show,
    ("user", "passwd"): commands.user_passwd,
    ("user", "disable"): commands.user_disable,
    ("user", "enable"): commands.user_enable,
    ("user", "remove"): commands.user_remove,
    ("client", "list"): commands.client_list,
    ("client", "add"): commands.client_add,
    ("client", "show"): commands.client_show,
    ("client", "update"): commands.client_update,
    ("client", "remove"): commands.client_remove,
    ("client", "rotate-secret"): commands.client_rotate_secret,
    ("device", "list"): commands.device_list,
    ("device", "remove"): commands.device_remove,
    ("request", "show"): commands.request_show,
    ("token", "revoke"): commands.token_revoke,
    ("dlq", "list"): commands.dlq_list,
    ("dlq", "replay"): commands.dlq_replay,
    ("dlq", "purge"): commands.dlq_purge,
    ("secrets", "rekey"): commands.secrets_rekey,
    ("keys", "list"): commands.keys_list,
    ("keys", "rotate"): commands.keys_rotate,
    ("keys", "retire"): commands.keys_retire,
    ("request", "list"): commands.request_list,
    ("request", "cancel"): commands.request_cancel,
    ("outbox", "list"): commands.outbox_list,
    ("outbox", "retry"): commands.outbox_retry,
}


def main(argv: list[str] | None = None) -> None:
    parser = arguments.build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(arguments.identifiers_may_start_with_a_dash(parser, argv))
    try:
        settings = Settings()
    except ValidationError as exc:
        _fail("invalid settings: " + describe_invalid(exc))
    # Logs go to stderr so stdout stays one JSON document.
    configure_logging("admin", settings.log_format, "warning", stream=sys.stderr)
    try:
        result: Any = asyncio.run(COMMANDS[(args.group, args.action)](settings, args))
    except (commands.CommandError, migrate.SchemaTooNew) as exc:
        _fail(str(exc))
    except asyncpg.UndefinedTableError:
        _fail("the database schema is missing: run 'ciba-admin db upgrade'")
    except (OSError, asyncpg.PostgresError) as exc:
        _fail(f"database error: {str(exc) or type(exc).__name__}")
    print(json.dumps(result, indent=2, default=_json_default, ensure_ascii=False))


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return rfc3339(value)
    return str(value)


def _fail(message: str) -> None:
    print(f"ciba-admin: {message.splitlines()[0] if message else 'failed'}", file=sys.stderr)
    raise SystemExit(1)


if __name__ == "__main__":
    main()
