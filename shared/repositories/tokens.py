"""Issued tokens. Access tokens are JWTs recorded by their jti (so they can be revoked);
refresh tokens are opaque and stored as keyed hashes. Tokens of one grant share a grant_id,
so a replayed refresh token can revoke the whole family."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.db import Connection


@dataclass(frozen=True)
class TokenRecord:
    id: UUID
    kind: str
    token_hash: bytes | None
    grant_id: UUID
    client_id: str
    sub: str
    scope: list[str]
    auth_time: datetime | None
    acr: str | None
    issued_at: datetime
    expires_at: datetime | None
    used_at: datetime | None
    revoked_at: datetime | None
    # What the access token is bound to (RFC 7800 cnf: x5t#S256 or jkt); None for a bearer token.
    cnf: dict[str, Any] | None = None
    # RFC 9396: the grant's authorization_details (the request's), kept through refreshes.
    authorization_details: list[dict[str, Any]] | None = None


_COLUMNS = (
    "id, kind, token_hash, grant_id, client_id, sub, scope, auth_time, acr, issued_at,"
    " expires_at, used_at, revoked_at, cnf, authorization_details"
)


async def insert(conn: Connection, token: TokenRecord) -> None:
    await conn.execute(
        f"INSERT INTO tokens ({_COLUMNS})"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        token.id, token.kind, token.token_hash, token.grant_id, token.client_id, token.sub,
        token.scope, token.auth_time, token.acr, token.issued_at, token.expires_at,
        token.used_at, token.revoked_at, token.cnf, token.authorization_details,
    )


async def insert_many(conn: Connection, records: list[TokenRecord]) -> None:
    for record in records:
        await insert(conn, record)


async def get(conn: Connection | asyncpg.Pool, token_id: UUID) -> TokenRecord | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM tokens WHERE id = $1", token_id)
    return TokenRecord(**dict(row)) if row else None


async def exists(pool: asyncpg.Pool, token_id: UUID, *, timeout: float) -> bool:
    return bool(await pool.fetchval("SELECT EXISTS (SELECT 1 FROM tokens WHERE id = $1)", token_id,
                                    timeout=timeout))


async def get_refresh(conn: Connection | asyncpg.Pool, token_hashes: list[bytes]) -> TokenRecord | None:
    """The refresh token whose hash (under any master key) is one of these."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM tokens WHERE token_hash = ANY($1::bytea[]) AND kind = 'refresh'", token_hashes
    )
    return TokenRecord(**dict(row)) if row else None


async def use_refresh(conn: Connection, token_id: UUID, now: datetime) -> bool:
    """Rotation: a refresh token is good for one exchange."""
    result = await conn.execute(
        """UPDATE tokens SET used_at = $2
            WHERE id = $1 AND kind = 'refresh' AND used_at IS NULL AND revoked_at IS NULL
              AND (expires_at IS NULL OR expires_at > $2)""",
        token_id, now,
    )
    return result.endswith(" 1")


async def revoke_grant(conn: Connection | asyncpg.Pool, grant_id: UUID, now: datetime) -> int:
    """Revoke every token of the grant; how many were still unrevoked."""
    result = await conn.execute(
        "UPDATE tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL", grant_id, now
    )
    return int(result.split()[-1])


async def revoke(conn: Connection | asyncpg.Pool, token_id: UUID, now: datetime) -> bool:
    """Revoke one token (an access token's jti is its id)."""
    result = await conn.execute("UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                                token_id, now)
    return result.endswith(" 1")
