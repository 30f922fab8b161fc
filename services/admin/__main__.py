"""ciba-admin: the operator's command line (DESIGN.md, "Operator CLI").

Every command prints JSON on success and exits 0; on failure it prints one line to stderr and
exits non-zero. It reads the same CIBA_* settings as the services.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import ValidationError

from services.admin import commands
from shared.logging import configure_logging
from shared.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ciba-admin", description="Operate the CIBA server.")
    sub = parser.add_subparsers(dest="group", required=True)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    upgrade = db.add_parser("upgrade", help="apply pending migrations")
    upgrade.add_argument("--create-database", action="store_true",
                         help="create the database first if it does not exist")

    feature = sub.add_parser("feature", help="feature flags").add_subparsers(dest="action", required=True)
    for action in ("enable", "disable"):
        feature.add_parser(action).add_argument("flag", choices=["ciba"])

    config = sub.add_parser("config", help="server properties").add_subparsers(dest="action", required=True)
    config.add_parser("get").add_argument("key", nargs="?")
    config_set = config.add_parser("set")
    config_set.add_argument("key")
    config_set.add_argument("value", help="JSON if it parses as JSON, else a string")
    config.add_parser("unset", help="return a property to its default").add_argument("key")

    user = sub.add_parser("user", help="the user directory").add_subparsers(dest="action", required=True)
    add = user.add_parser("add")
    add.add_argument("username")
    add.add_argument("--password", required=True)
    add.add_argument("--email")
    add.add_argument("--phone")
    add.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE")
    code = user.add_parser("set-code", help="set the user's CIBA user_code")
    code.add_argument("username")
    code.add_argument("code")
    set_totp = user.add_parser("set-totp", help="give the user a new TOTP secret; prints the otpauth URI")
    set_totp.add_argument("username")

    device = sub.add_parser("device", help="authentication devices registered for push").add_subparsers(
        dest="action", required=True)
    device.add_parser("list").add_argument("username")
    device_remove = device.add_parser("remove")
    device_remove.add_argument("device_id")

    client = sub.add_parser("client", help="registered clients").add_subparsers(dest="action", required=True)
    client.add_parser("list")

    parked = sub.add_parser("outbox", help="events the broker refused, set aside").add_subparsers(
        dest="action", required=True)
    parked.add_parser("list", help="parked events with their last error")
    retry = parked.add_parser("retry", help="send parked events again")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID")
    retry.add_argument("--all", action="store_true", help="every parked event")

    request = sub.add_parser("request", help="CIBA requests").add_subparsers(dest="action", required=True)
    request.add_parser("show").add_argument("auth_req_id")
    return parser


COMMANDS: dict[tuple[str, str], Callable[[Settings, argparse.Namespace], Awaitable[Any]]] = {
    ("db", "upgrade"): commands.db_upgrade,
    ("feature", "enable"): commands.feature_enable,
    ("feature", "disable"): commands.feature_disable,
    ("config", "get"): commands.config_get,
    ("config", "set"): commands.config_set,
    ("config", "unset"): commands.config_unset,
    ("user", "add"): commands.user_add,
    ("user", "set-code"): commands.user_set_code,
    ("user", "set-totp"): commands.user_set_totp,
    ("client", "list"): commands.client_list,
    ("device", "list"): commands.device_list,
    ("device", "remove"): commands.device_remove,
    ("request", "show"): commands.request_show,
    ("outbox", "list"): commands.outbox_list,
    ("outbox", "retry"): commands.outbox_retry,
}


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        _fail("invalid settings: " + "; ".join(e["msg"] for e in exc.errors()))
    # Logs go to stderr so stdout stays one JSON document.
    configure_logging("admin", settings.log_format, "warning", stream=sys.stderr)
    try:
        result = asyncio.run(COMMANDS[(args.group, args.action)](settings, args))
    except commands.CommandError as exc:
        _fail(str(exc))
    except asyncpg.UndefinedTableError:
        _fail("the database schema is missing: run 'ciba-admin db upgrade'")
    except (OSError, asyncpg.PostgresError) as exc:
        _fail(f"database error: {exc}")
    print(json.dumps(result, indent=2, default=_json_default, ensure_ascii=False))


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _fail(message: str) -> None:
    print(f"ciba-admin: {message.splitlines()[0] if message else 'failed'}", file=sys.stderr)
    raise SystemExit(1)


if __name__ == "__main__":
    main()
