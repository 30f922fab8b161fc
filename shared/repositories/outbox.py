"""The transactional outbox: events written with the state change they announce.

``add`` runs inside the caller's transaction and sends a NOTIFY, which Postgres delivers only
if that transaction commits; the relay in the request-processor wakes on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from shared.events import Event

OUTBOX_CHANNEL = "ciba_outbox"


async def add(conn: asyncpg.Connection, event: Event) -> None:
    await conn.execute(
        "INSERT INTO outbox (message_id, routing_key, body, auth_request_id) VALUES ($1, $2, $3, $4)",
        event.message_id,
        event.routing_key,
        event.model_dump(mode="json"),
        event.request_id,
    )
    await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    message_id: UUID
    routing_key: str
    body: dict[str, Any]
    auth_req_id_enc: str | None


async def claim_batch(conn: asyncpg.Connection, limit: int) -> list[OutboxRow]:
    """Lock the oldest unsent events; rows another relay holds are skipped."""
    rows = await conn.fetch(
        """SELECT o.id, o.message_id, o.routing_key, o.body, r.auth_req_id_enc
             FROM (SELECT id FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) claimed
             JOIN outbox o ON o.id = claimed.id
             LEFT JOIN auth_requests r ON r.id = o.auth_request_id
            ORDER BY o.id""",
        limit,
    )
    return [OutboxRow(**dict(row)) for row in rows]


async def delete(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)

