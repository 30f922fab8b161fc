"""What every ciba-admin command shares: the error it reports, its database connection, the
master keys, and secrets read without echoing them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from services.admin import secret_input
from shared.crypto import Secrets
from shared.db.pool import connect
from shared.loops import GaveUp, retry_until
from shared.settings import Settings


class CommandError(Exception):
    """A failure the operator can act on; printed as one line."""


# How long a command keeps trying to open its connection: a connect that times out or is
# refused (a container's DNS answering late, a Postgres restarting) is tried again, so a script
# does not fail on a blip; a database that stays away fails the command in one line. 30 s: under
# Podman, a container joining the network right before (the Compose walk-through's webhook
# receiver) kept the network's DNS from answering for longer than 10 s, twice in CI.
CONNECT_PATIENCE_SEC = 30.0


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    try:
        conn = await retry_until(
            lambda: connect(settings.database_url, timeout=settings.db_connect_timeout_sec),
            timeout=CONNECT_PATIENCE_SEC, retry_on=(OSError,))
    except GaveUp as exc:
        raise CommandError(f"database not reachable: {exc}") from None
    try:
        yield conn
    finally:
        await conn.close()


def master_secrets(settings: Settings) -> Secrets:
    return Secrets(settings.master_keys)


def ask_secret(given: str | None, what: str, stdin_flag: str, from_stdin: bool, **options: Any) -> str:
    try:
        return secret_input.read_secret(given, what=what, stdin_flag=stdin_flag, from_stdin=from_stdin, **options)
    except secret_input.SecretInputError as exc:
        raise CommandError(str(exc)) from None
