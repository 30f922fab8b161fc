"""The transactional outbox: events written with the state change they announce.

``add`` runs inside the caller's transaction and sends a NOTIFY, which Postgres delivers only
if that transaction commits; the relay in the request-processor wakes on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.db import Connection
from shared.events import Event

OUTBOX_CHANNEL = "ciba_outbox"


async def add(conn: Connection, event: Event) -> None:
    await conn.execute(
        "INSERT INTO outbox (message_id, routing_key, body, auth_request_id) VALUES ($1, $2, $3, $4)",
        event.message_id,
        event.routing_key,
        event.model_dump(mode="json"),
        event.request_id,
    )
    await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)


async def add_many(conn: Connection, events: list[Event]) -> None:
    """``add`` for many events: one INSERT and one NOTIFY."""
    if not events:
        return
    # The bodies go as JSON text, serialised by pydantic in one call each (its fastest path).
    await conn.execute(
        """INSERT INTO outbox (message_id, routing_key, body, auth_request_id)
           SELECT message_id, routing_key, body::jsonb, auth_request_id
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[])
                  AS e(message_id, routing_key, body, auth_request_id)""",
        [e.message_id for e in events], [e.routing_key for e in events],
        [e.model_dump_json() for e in events], [e.request_id for e in events],
    )
    await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    message_id: UUID
    routing_key: str
    body: dict[str, Any]
    auth_req_id_enc: str | None
    # The trace the event continues: its writer's choice, else its request's (shared.tracing).
    traceparent: str | None = None


async def take_batch(conn: Connection, limit: int, now: datetime) -> list[OutboxRow]:
    """Lock and delete the oldest events due to be sent (not parked, not waiting out a
    back-off), in one statement of the caller's transaction: they are gone if it commits and
    back if it rolls back. Rows another relay holds are skipped."""
    rows = await conn.fetch(
        """WITH taken AS (
               DELETE FROM outbox WHERE id IN (
                   SELECT id FROM outbox
                    WHERE parked_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= $2)
                    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
               RETURNING id, message_id, routing_key, body, auth_request_id, traceparent)
           SELECT t.id, t.message_id, t.routing_key, t.body, r.auth_req_id_enc,
                  coalesce(t.traceparent, r.traceparent) AS traceparent
             FROM taken t LEFT JOIN auth_requests r ON r.id = t.auth_request_id
            ORDER BY t.id""",
        limit, now,
    )
    return [OutboxRow(**dict(row)) for row in rows]


async def delete(conn: Connection, ids: list[int]) -> None:
    await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)


@dataclass(frozen=True)
class Refusal:
    attempts: int
    parked: bool
    retry_in: float


async def record_failure(conn: Connection, row_id: int, error: str, *, now: datetime,
                         park_after: int, max_backoff: float) -> Refusal | None:
    """Count a refused publish: retry the row after 2^(attempts-1) seconds (at most
    ``max_backoff``), or park it once it was refused ``park_after`` times. None when the row
    is gone: once the failed batch rolled back, another relay may have taken and sent it."""
    row = await conn.fetchrow(
        """UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                  next_attempt_at = $3::timestamptz + least(power(2, attempts), $5) * interval '1 second',
                  parked_at = CASE WHEN attempts + 1 >= $4 THEN $3::timestamptz END
            WHERE id = $1
        RETURNING attempts, parked_at IS NOT NULL AS parked, least(power(2, attempts - 1), $5) AS retry_in""",
        row_id, error[:500], now, park_after, max_backoff,
    )
    if row is None:
        return None
    return Refusal(row["attempts"], row["parked"], float(row["retry_in"]))


@dataclass(frozen=True)
class ParkedRow:
    id: int
    message_id: UUID
    routing_key: str
    auth_request_id: UUID | None
    attempts: int
    last_error: str | None
    created_at: datetime
    parked_at: datetime


async def list_parked(conn: Connection | asyncpg.Pool) -> list[ParkedRow]:
    rows = await conn.fetch(
        """SELECT id, message_id, routing_key, auth_request_id, attempts, last_error, created_at, parked_at
             FROM outbox WHERE parked_at IS NOT NULL ORDER BY id""")
    return [ParkedRow(**dict(row)) for row in rows]


async def unpark(conn: Connection, ids: list[int] | None) -> int:
    """Send parked rows again (``None``: all of them), with a fresh count of attempts."""
    result = await conn.execute(
        """UPDATE outbox SET parked_at = NULL, next_attempt_at = NULL, attempts = 0
            WHERE parked_at IS NOT NULL AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))""",
        ids,
    )
    await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)
    return int(result.split()[-1])

