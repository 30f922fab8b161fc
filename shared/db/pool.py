"""The asyncpg pool: jsonb as Python objects (through orjson), a bounded statement cache."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    # orjson: event bodies and client metadata are encoded on hot paths (several times faster).
    await conn.set_type_codec("jsonb", encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def _reset(conn: asyncpg.Connection) -> None:
    """What a connection needs before the pool hands it out again.

    asyncpg's default reset costs a round trip on every release (UNLISTEN, RESET ALL, ...).
    Our pooled connections never LISTEN, SET, open cursors or take session advisory locks
    (those use dedicated connections), so only a transaction left open needs undoing."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10,
                      connect_timeout: float = 5.0) -> asyncpg.Pool:
    """``connect_timeout`` bounds each (re)connection, so an unreachable database is an error
    after seconds instead of asyncpg's default minute."""
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_reset, command_timeout=30,
        timeout=connect_timeout,
    )


async def connect(dsn: str, *, timeout: float = 10.0) -> asyncpg.Connection:
    """A single connection (LISTEN, migrations, the CLI) with the same codecs as the pool."""
    conn = await asyncpg.connect(dsn, timeout=timeout)
    await _init_connection(conn)
    return conn
