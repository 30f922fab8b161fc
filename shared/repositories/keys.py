"""Signing keys: public JWK in clear, private key as Fernet ciphertext."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class StoredKey:
    kid: str
    kty: str
    public_jwk: dict[str, Any]
    private_key_enc: str
    status: str
    created_at: datetime


_COLUMNS = "kid, kty, public_jwk, private_key_enc, status, created_at"


async def list_keys(conn: asyncpg.Connection | asyncpg.Pool, *, status: str | None = None) -> list[StoredKey]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM signing_keys WHERE $1::text IS NULL OR status = $1 ORDER BY created_at",
        status,
    )
    return [StoredKey(**dict(row)) for row in rows]


async def insert(conn: asyncpg.Connection, key: StoredKey) -> None:
    await conn.execute(
        "INSERT INTO signing_keys (kid, kty, public_jwk, private_key_enc, status, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        key.kid, key.kty, key.public_jwk, key.private_key_enc, key.status, key.created_at,
    )
