"""Single-use JWT ids: one space per client for every JWT it sends (client assertions and
signed authentication requests), so a JWT used for one purpose is refused for the other."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.db import Connection


async def use(conn: Connection | asyncpg.Pool, client_id: str, purpose: str, jti: str,
              expires_at: datetime) -> bool:
    """Record the jti; False when this client already used it, for any purpose (``purpose``
    records where it was first seen)."""
    inserted = await conn.fetchval(
        """INSERT INTO used_jtis (client_id, purpose, jti, expires_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (client_id, jti) DO NOTHING RETURNING true""",
        client_id, purpose, jti, expires_at,
    )
    return bool(inserted)


async def purge_expired(conn: Connection | asyncpg.Pool, now: datetime) -> int:
    result = await conn.execute("DELETE FROM used_jtis WHERE expires_at < $1", now)
    return int(result.split()[-1])
