"""The notifier's SQL: one statement to take a request in hand, one to record that the user was
reached.

A notification used to cost about a dozen round trips to Postgres (the event seen? the
request, notified already? the user, the client, the claim, the device link, the devices, then
a transaction of four). On a 2-core machine each round trip is a socket write, a wake-up of
Postgres and a read; under load they were a third of the notifier's CPU (py-spy). Data-modifying
CTEs do the same work in two statements, each its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class DeviceRow:
    id: UUID
    token_enc: str
    last_registered_at: datetime


@dataclass(frozen=True)
class InHand:
    """A pending request this event now holds the claim to notify, with what the plugins need."""

    request_id: UUID
    sub: str
    scope: list[str]
    acr_values: list[str] | None
    binding_message: str | None
    expires_at: datetime
    username: str
    email: str | None
    phone_number: str | None
    client_name: str
    devices: list[DeviceRow]


async def take_in_hand(conn: asyncpg.Connection | asyncpg.Pool, *, consumer: str, message_id: UUID,
                       request_id: UUID, ref_hash: bytes, now: datetime, hold: timedelta) -> InHand | None:
    """Claim the right to notify the user of ``request_id`` for ``hold`` on behalf of this event
    and store the device link ``ref_hash``, if the event is new, the request pending and not yet
    notified, and no other event's claim holds (the same event may take its own claim back).
    None when there is nothing to do; ``why_not`` tells which."""
    row = await conn.fetchrow(
        """WITH claimed AS (
               UPDATE auth_requests r SET notify_claimed_at = $5, notify_claimed_by = $2
                WHERE r.id = $3 AND r.status = 'pending'
                  AND NOT EXISTS (SELECT 1 FROM processed_events p WHERE p.consumer = $1 AND p.message_id = $2)
                  AND NOT EXISTS (SELECT 1 FROM notification_attempts a
                                   WHERE a.auth_request_id = r.id AND a.outcome = 'sent')
                  AND (r.notify_claimed_at IS NULL OR r.notify_claimed_by = $2
                       OR r.notify_claimed_at <= $5::timestamptz - $6::interval)
            RETURNING r.id, r.sub, r.client_id, r.scope, r.acr_values, r.binding_message, r.expires_at),
           linked AS (
               INSERT INTO device_page_refs (ref_hash, auth_request_id, created_at)
               SELECT $4, id, $5 FROM claimed)
           SELECT c.id AS request_id, c.sub, c.scope, c.acr_values, c.binding_message, c.expires_at,
                  u.username, u.email, u.phone_number, coalesce(cl.client_name, cl.client_id) AS client_name,
                  coalesce((SELECT jsonb_agg(jsonb_build_object(
                                'id', d.id, 'token_enc', d.token_enc, 'last_registered_at', d.last_registered_at)
                                ORDER BY d.created_at)
                              FROM devices d WHERE d.sub = c.sub), '[]'::jsonb) AS devices
             FROM claimed c JOIN users u ON u.sub = c.sub JOIN clients cl ON cl.client_id = c.client_id""",
        consumer, message_id, request_id, ref_hash, now, hold,
    )
    if row is None:
        return None
    fields: dict[str, Any] = dict(row)
    fields["devices"] = [DeviceRow(UUID(d["id"]), d["token_enc"], datetime.fromisoformat(d["last_registered_at"]))
                         for d in fields["devices"]]
    return InHand(**fields)


async def why_not(conn: asyncpg.Connection | asyncpg.Pool, *, consumer: str, message_id: UUID,
                  request_id: UUID) -> str:
    """Why ``take_in_hand`` found nothing to do (for the log; the rare path)."""
    row = await conn.fetchrow(
        """SELECT r.status,
                  EXISTS (SELECT 1 FROM processed_events p WHERE p.consumer = $1 AND p.message_id = $2) AS processed,
                  EXISTS (SELECT 1 FROM notification_attempts a
                           WHERE a.auth_request_id = r.id AND a.outcome = 'sent') AS notified
             FROM auth_requests r WHERE r.id = $3""",
        consumer, message_id, request_id,
    )
    if row is None:
        return "the request no longer exists"
    if row["processed"]:
        return "event already processed"
    if row["status"] != "pending":
        return f"the request is {row['status']}"
    if row["notified"]:
        return "already notified"
    return "another notifier is notifying this request, or its user or client was removed"


async def record_sent(conn: asyncpg.Connection | asyncpg.Pool, *, consumer: str, message_id: UUID,
                      request_id: UUID, attempt: int, notifier: str, detail: str, at: datetime) -> bool:
    """Record the event as processed and the notification as sent, in one statement; False when
    another delivery of the event recorded it first."""
    return bool(await conn.fetchval(
        """WITH processed AS (
               INSERT INTO processed_events (consumer, message_id) VALUES ($1, $2)
               ON CONFLICT DO NOTHING RETURNING true)
           INSERT INTO notification_attempts (auth_request_id, attempt, notifier, outcome, detail, at)
           SELECT $3, $4, $5, 'sent', $6, $7 FROM processed
           RETURNING true""",
        consumer, message_id, request_id, attempt, notifier, detail, at,
    ))
