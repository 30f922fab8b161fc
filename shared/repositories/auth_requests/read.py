"""Reading requests: one by id or auth_req_id hash, its history, a user's pending ones, and
the search support staff run (``ciba-admin request list``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.db import Connection
from shared.domain.auth_request import AuthRequest
from shared.repositories.auth_requests._rows import COLUMNS, R_COLUMNS, from_row, to_request


async def get(conn: Connection | asyncpg.Pool, request_id: UUID) -> AuthRequest | None:
    return from_row(await conn.fetchrow(f"SELECT {COLUMNS} FROM auth_requests WHERE id = $1", request_id))


async def get_by_hash(conn: Connection | asyncpg.Pool,
                      auth_req_id_hashes: list[bytes]) -> AuthRequest | None:
    """The request whose auth_req_id hashes (under any master key) to one of these."""
    return from_row(
        await conn.fetchrow(
            f"SELECT {COLUMNS} FROM auth_requests WHERE auth_req_id_hash = ANY($1::bytea[])", auth_req_id_hashes
        )
    )


async def history(conn: Connection | asyncpg.Pool, request_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT status, at, service, detail FROM auth_request_history"
        " WHERE auth_request_id = $1 ORDER BY id",
        request_id,
    )
    return [dict(row) for row in rows]


@dataclass(frozen=True)
class Listed:
    request: AuthRequest
    username: str


async def search(conn: Connection | asyncpg.Pool, *, status: str | None, client_id: str | None,
                 username: str | None, created_before: datetime | None, limit: int) -> list[Listed]:
    """Requests for support staff, newest first, by status, client, user and age."""
    rows = await conn.fetch(
        f"""SELECT {R_COLUMNS}, u.username FROM auth_requests r JOIN users u ON u.sub = r.sub
             WHERE ($1::text IS NULL OR r.status = $1) AND ($2::text IS NULL OR r.client_id = $2)
               AND ($3::text IS NULL OR u.username = $3) AND ($4::timestamptz IS NULL OR r.created_at < $4)
             ORDER BY r.created_at DESC LIMIT $5""",
        status, client_id, username, created_before, limit,
    )
    listed = []
    for row in rows:
        values = dict(row)
        name = values.pop("username")
        listed.append(Listed(to_request(values), name))
    return listed


async def pending_for_user(conn: Connection | asyncpg.Pool, sub: str) -> list[AuthRequest]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM auth_requests WHERE sub = $1 AND status = 'pending'", sub)
    return [to_request(row) for row in rows]


async def count_pending_for_user(conn: Connection | asyncpg.Pool, sub: str, now: datetime) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM auth_requests WHERE sub = $1 AND status = 'pending' AND expires_at > $2",
        sub, now,
    )
    return count
