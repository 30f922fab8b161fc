"""Event ids a consumer has already applied (its tracking records)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from shared.db import Connection


async def mark(conn: Connection | asyncpg.Pool, consumer: str, message_id: UUID) -> bool:
    """Record the id (in the caller's transaction, if any); False when it was already there."""
    inserted = await conn.fetchval(
        """INSERT INTO processed_events (consumer, message_id) VALUES ($1, $2)
           ON CONFLICT DO NOTHING RETURNING true""",
        consumer,
        message_id,
    )
    return bool(inserted)


async def seen(conn: Connection | asyncpg.Pool, consumer: str, message_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM processed_events WHERE consumer = $1 AND message_id = $2",
            consumer,
            message_id,
        )
    )


async def purge_older_than(conn: Connection | asyncpg.Pool, cutoff: datetime) -> int:
    result = await conn.execute("DELETE FROM processed_events WHERE processed_at < $1", cutoff)
    return int(result.split()[-1])
