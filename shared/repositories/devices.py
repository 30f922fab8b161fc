"""Authentication devices registered for push notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from shared.db import Connection


@dataclass(frozen=True)
class Device:
    id: UUID
    sub: str
    token_enc: str
    created_at: datetime
    last_registered_at: datetime


_COLUMNS = "id, sub, token_enc, created_at, last_registered_at"


async def register(conn: Connection | asyncpg.Pool, sub: str, token_hash: bytes, token_enc: str,
                   now: datetime, *, keep: int) -> UUID:
    """Store the device, or refresh it when this user registered the same token before; then
    drop the user's least recently registered devices beyond ``keep``."""
    device_id: UUID = await conn.fetchval(
        """WITH registered AS (
               INSERT INTO devices (id, sub, token_hash, token_enc, created_at, last_registered_at)
               VALUES ($1, $2, $3, $4, $5, $5)
               ON CONFLICT (sub, token_hash) DO UPDATE SET last_registered_at = EXCLUDED.last_registered_at
               RETURNING id),
           dropped AS (
               DELETE FROM devices WHERE id IN (
                   SELECT id FROM devices WHERE sub = $2 AND id NOT IN (SELECT id FROM registered)
                   ORDER BY last_registered_at DESC OFFSET $6 - 1))
           SELECT id FROM registered""",
        uuid4(), sub, token_hash, token_enc, now, keep,
    )
    return device_id


async def for_user(conn: Connection | asyncpg.Pool, sub: str) -> list[Device]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM devices WHERE sub = $1 ORDER BY created_at", sub)
    return [Device(**dict(row)) for row in rows]


async def remove(conn: Connection | asyncpg.Pool, device_ids: list[UUID], sub: str | None = None) -> int:
    result = await conn.execute(
        "DELETE FROM devices WHERE id = ANY($1::uuid[]) AND ($2::text IS NULL OR sub = $2)", device_ids, sub)
    return int(result.split()[-1])
