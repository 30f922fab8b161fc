"""Signing keys: public JWK in clear, private key as Fernet ciphertext. Every change sends
NOTIFY ``ciba_keys`` (delivered at commit), which each service's key ring reloads on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Connection

KEYS_CHANNEL = "ciba_keys"


@dataclass(frozen=True)
class StoredKey:
    kid: str
    kty: str
    public_jwk: dict[str, Any]
    private_key_enc: str
    status: str  # active (signing from activates_at) or retired (leaving /jwks at retired_at)
    created_at: datetime
    activates_at: datetime | None = None
    retired_at: datetime | None = None

    def state(self, now: datetime) -> str:
        """published (in /jwks, not yet signing), active, retiring (in /jwks, no longer
        signing) or retired (gone)."""
        if self.status == "retired":
            return "retiring" if self.retired_at is not None and now < self.retired_at else "retired"
        return "published" if self.activates_at is not None and now < self.activates_at else "active"


_COLUMNS = "kid, kty, public_jwk, private_key_enc, status, created_at, activates_at, retired_at"


async def list_keys(conn: Connection | asyncpg.Pool, *, status: str | None = None) -> list[StoredKey]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM signing_keys WHERE $1::text IS NULL OR status = $1 ORDER BY created_at, kid",
        status,
    )
    return [StoredKey(**dict(row)) for row in rows]


async def insert(conn: Connection, key: StoredKey) -> None:
    await conn.execute(
        "INSERT INTO signing_keys (kid, kty, public_jwk, private_key_enc, status, created_at, activates_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        key.kid, key.kty, key.public_jwk, key.private_key_enc, key.status, key.created_at,
        key.activates_at or key.created_at,
    )
    await conn.execute("SELECT pg_notify($1, $2)", KEYS_CHANNEL, key.kid)


async def retire(conn: Connection, kid: str, *, leaves_at: datetime) -> bool:
    result = await conn.execute(
        "UPDATE signing_keys SET status = 'retired', retired_at = $2 WHERE kid = $1 AND status = 'active'",
        kid, leaves_at)
    await conn.execute("SELECT pg_notify($1, $2)", KEYS_CHANNEL, kid)
    return result.endswith(" 1")


async def version(conn: Connection | asyncpg.Pool) -> Any:
    """A fingerprint of the table: changes whenever a key is added or retired."""
    return await conn.fetchrow("SELECT count(*), max(created_at), max(retired_at), count(*) FILTER "
                               "(WHERE status = 'retired') FROM signing_keys")
