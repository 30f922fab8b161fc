"""A request's state changes (pending -> approved | denied | expired | failed, approved ->
tokens_issued) and the history rows that record them.

Every state change is a conditional update (``WHERE status = 'pending'`` or ``'approved'``)
with RETURNING, so two racing transitions resolve exactly once: the loser gets ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
import orjson

from shared.db import Connection
from shared.domain.auth_request import AuthRequest, DeliveryMode, Status
from shared.events import Event
from shared.repositories.auth_requests._rows import COLUMNS, from_record, from_row
from shared.repositories.auth_requests.changes import REQUEST_CHANGED_CHANNEL
from shared.repositories.outbox import OUTBOX_CHANNEL
from shared.repositories.tokens import TokenRecord


async def decide(
    conn: Connection | asyncpg.Pool, request_id: UUID, *, approved: bool, now: datetime,
    auth_time: datetime | None, acr: str | None, service: str, event: Event, traceparent: str | None = None,
) -> AuthRequest | None:
    """pending -> approved | denied, unless it expired meanwhile, announced: the device links
    used up, the history row, the event in the outbox, and the NOTIFYs that wake the relay and
    the request's long polls, all in one statement (one round trip between the user's tap and
    the news of it). None when the request was no longer pending."""
    row = await conn.fetchrow(
        f"""WITH decided AS (
                UPDATE auth_requests SET status = $2, decided_at = $3, auth_time = $4, acr = $5
                 WHERE id = $1 AND status = 'pending' AND expires_at > $3
             RETURNING {COLUMNS}),
            links AS (
                UPDATE device_page_refs SET used_at = $3
                 WHERE auth_request_id IN (SELECT id FROM decided) AND used_at IS NULL),
            history AS (
                INSERT INTO auth_request_history (auth_request_id, status, at, service)
                SELECT id, status, $3, $6 FROM decided),
            announced AS (
                INSERT INTO outbox (message_id, routing_key, body, auth_request_id, traceparent)
                SELECT $7, $8, $9::text::jsonb, id, $12 FROM decided)
            SELECT d.*, pg_notify($10, d.id::text) AS woke, pg_notify($11, '') AS relayed,
                   (SELECT max(n.at) FROM notification_attempts n
                     WHERE n.auth_request_id = d.id AND n.outcome = 'sent') AS notified_at
              FROM decided d""",
        request_id, Status.APPROVED if approved else Status.DENIED, now, auth_time, acr, service,
        event.message_id, event.routing_key, event.model_dump_json(), REQUEST_CHANGED_CHANNEL, OUTBOX_CHANNEL,
        traceparent,
    )
    return from_record(row) if row else None


@dataclass(frozen=True)
class Expired:
    id: UUID
    client_id: str
    delivery_mode: DeliveryMode


async def expire_due(conn: Connection, now: datetime, limit: int, service: str) -> list[Expired]:
    """pending -> expired for up to ``limit`` requests past their deadline, with their device
    links used up and their history rows, in one statement (set-based: a chunk costs what one
    request did). Rows another replica holds are skipped, so replicas share the sweep without
    waiting on each other. The caller adds the events and the NOTIFYs in the same transaction.

    ``id = ANY(ARRAY(...))``, not a join with the subquery: with a join the planner hashed the
    whole table (a sequential scan of every request ever made, per chunk)."""
    rows = await conn.fetch(
        """WITH due AS (
               UPDATE auth_requests r SET status = 'expired', decided_at = $1
                WHERE r.id = ANY(ARRAY(SELECT id FROM auth_requests
                                        WHERE status = 'pending' AND expires_at <= $1
                                        ORDER BY expires_at
                                        LIMIT $2
                                        FOR UPDATE SKIP LOCKED))
            RETURNING r.id, r.client_id, r.delivery_mode),
           links AS (
               UPDATE device_page_refs SET used_at = $1
                WHERE auth_request_id IN (SELECT id FROM due) AND used_at IS NULL),
           history AS (
               INSERT INTO auth_request_history (auth_request_id, status, at, service)
               SELECT id, 'expired', $1, $3 FROM due)
           SELECT id, client_id, delivery_mode FROM due""",
        now, limit, service,
    )
    return [Expired(**dict(row)) for row in rows]


async def fail(conn: Connection, request_id: UUID, reason: str, now: datetime) -> AuthRequest | None:
    """pending -> failed."""
    return from_row(
        await conn.fetchrow(
            f"""UPDATE auth_requests SET status = 'failed', failure_reason = $2, decided_at = $3
                 WHERE id = $1 AND status = 'pending'
             RETURNING {COLUMNS}""",
            request_id, reason, now,
        )
    )


async def issue_tokens(conn: Connection | asyncpg.Pool, request_id: UUID, *, now: datetime,
                       service: str, records: list[TokenRecord], push_payload_enc: str | None) -> bool:
    """approved -> tokens_issued, the tokens' records (one grant: the request's) and the history
    row, in one statement; for push, the encrypted payload kept for delivery too. False when the
    request was not approved (tokens are handed out once)."""
    return bool(await conn.fetchval(
        """WITH issued AS (
               UPDATE auth_requests SET status = 'tokens_issued', tokens_issued_at = $2,
                                        push_payload_enc = coalesce($4, push_payload_enc)
                WHERE id = $1 AND status = 'approved'
            RETURNING id, client_id, sub, scope, auth_time, acr, authorization_details),
           recorded AS (
               INSERT INTO tokens (id, kind, token_hash, grant_id, client_id, sub, scope, auth_time, acr,
                                   issued_at, expires_at, cnf, authorization_details)
               SELECT t.id, t.kind, t.token_hash, i.id, i.client_id, i.sub, i.scope, i.auth_time, i.acr, $2,
                      t.expires_at, t.cnf::jsonb, i.authorization_details
                 FROM issued i, unnest($5::uuid[], $6::text[], $7::bytea[], $8::timestamptz[], $9::text[])
                      AS t(id, kind, token_hash, expires_at, cnf)),
           history AS (
               INSERT INTO auth_request_history (auth_request_id, status, at, service)
               SELECT id, 'tokens_issued', $2, $3 FROM issued)
           SELECT true FROM issued""",
        request_id, now, service, push_payload_enc,
        [r.id for r in records], [r.kind for r in records], [r.token_hash for r in records],
        [r.expires_at for r in records],
        [orjson.dumps(r.cnf).decode() if r.cnf is not None else None for r in records],
    ))


async def add_history(
    conn: Connection, request_id: UUID, status: str, at: datetime, service: str,
    detail: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO auth_request_history (auth_request_id, status, at, service, detail)"
        " VALUES ($1, $2, $3, $4, $5)",
        request_id, status, at, service, detail,
    )


async def finish_delivery(conn: Connection | asyncpg.Pool, request_id: UUID, state: str) -> None:
    """Record how the callback ended and drop any kept push payload."""
    await conn.execute(
        "UPDATE auth_requests SET delivery_state = $2, push_payload_enc = NULL WHERE id = $1",
        request_id, state,
    )
