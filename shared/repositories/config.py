"""Stored server properties (only those an operator set) and their change notification."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.db import Connection

CONFIG_CHANNEL = "ciba_config"


async def load_stored(conn: Connection | asyncpg.Pool) -> dict[str, Any]:
    rows = await conn.fetch("SELECT key, value FROM as_config")
    return {row["key"]: row["value"] for row in rows}


async def upsert(conn: Connection, key: str, value: Any) -> None:
    await conn.execute(
        """INSERT INTO as_config (key, value, updated_at) VALUES ($1, $2, now())
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()""",
        key,
        value,
    )
    await conn.execute("SELECT pg_notify($1, $2)", CONFIG_CHANNEL, key)


async def delete(conn: Connection, key: str) -> None:
    await conn.execute("DELETE FROM as_config WHERE key = $1", key)
    await conn.execute("SELECT pg_notify($1, $2)", CONFIG_CHANNEL, key)


async def version(conn: Connection | asyncpg.Pool) -> tuple[int, Any]:
    """A cheap fingerprint of the stored configuration, for the fallback refresh."""
    row = await conn.fetchrow("SELECT count(*) AS n, max(updated_at) AS at FROM as_config")
    assert row is not None  # an aggregate without GROUP BY: always one row
    return row["n"], row["at"]
