"""DPoP proofs seen (RFC 9449 11.1): one row per accepted proof, by key thumbprint and jti hash,
kept until the proof's iat would refuse it anyway."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.db import Connection


async def use(conn: Connection | asyncpg.Pool, jkt: str, jti_hash: bytes, expires_at: datetime) -> bool:
    """Record the proof; False when a proof of this key with this jti was already seen."""
    inserted = await conn.fetchval(
        """INSERT INTO dpop_proofs (jkt, jti_hash, expires_at) VALUES ($1, $2, $3)
           ON CONFLICT (jkt, jti_hash) DO NOTHING RETURNING true""",
        jkt, jti_hash, expires_at,
    )
    return bool(inserted)


async def purge_expired(conn: Connection | asyncpg.Pool, now: datetime) -> int:
    result = await conn.execute("DELETE FROM dpop_proofs WHERE expires_at < $1", now)
    return int(result.split()[-1])
