"""token-delivery's SQL: one statement to load what a callback needs, one to record that it
was delivered (the attempt, the request's delivery_state, the event as processed).

As in the notifier (services/notifier/queries.py), each round trip to Postgres costs a socket
write and a wake-up on both sides; before the callback they are also latency between the
user's approval and the client's ping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.db import Connection
from shared.domain.auth_request import AuthRequest
from shared.repositories import auth_requests, clients
from shared.repositories.clients import Client


@dataclass(frozen=True)
class Callback:
    request: AuthRequest
    client: Client


async def load(conn: Connection | asyncpg.Pool, *, consumer: str, message_id: UUID,
               request_id: UUID) -> Callback | None:
    """The request and its client, unless the event was processed already or either is gone."""
    row = await conn.fetchrow(
        f"""SELECT {auth_requests.columns("r")}, {clients.columns("c", "client_")}
              FROM auth_requests r JOIN clients c ON c.client_id = r.client_id
             WHERE r.id = $3
               AND NOT EXISTS (SELECT 1 FROM processed_events p WHERE p.consumer = $1 AND p.message_id = $2)""",
        consumer, message_id, request_id,
    )
    if row is None:
        return None
    return Callback(auth_requests.from_record(row), clients.from_record(row, "client_"))


async def record_delivered(conn: Connection | asyncpg.Pool, *, consumer: str, message_id: UUID,
                           request_id: UUID, attempt: int, mode: str, status_code: int | None, detail: str,
                           at: datetime) -> bool:
    """The event processed, the attempt recorded, the request's callback done (its kept push
    payload dropped): one statement. False when another delivery of the event recorded it."""
    return bool(await conn.fetchval(
        """WITH processed AS (
               INSERT INTO processed_events (consumer, message_id) VALUES ($1, $2)
               ON CONFLICT DO NOTHING RETURNING true),
           attempted AS (
               INSERT INTO delivery_attempts (auth_request_id, attempt, mode, outcome, status_code, detail, at)
               SELECT $3, $4, $5, 'delivered', $6, $7, $8 FROM processed),
           finished AS (
               UPDATE auth_requests SET delivery_state = 'delivered', push_payload_enc = NULL
                WHERE id = $3 AND EXISTS (SELECT 1 FROM processed))
           SELECT true FROM processed""",
        consumer, message_id, request_id, attempt, mode, status_code, detail, at,
    ))
