"""The notifier's SQL: one statement to take requests in hand, one to record that their users
were reached, each for every message the notifier holds at that moment.

A notification used to cost about a dozen round trips to Postgres (the event seen? the
request, notified already? the user, the client, the claim, the device link, the devices, then
a transaction of four). On a 2-core machine each round trip is a socket write, a wake-up of
Postgres and a read; under load they were a third of the notifier's CPU (py-spy). Data-modifying
CTEs do the same work in two statements, and the notifier sends each for all the messages in
hand at once (shared.db.batching).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from shared.db import Connection
from shared.domain.auth_request import Status


@dataclass(frozen=True)
class DeviceRow:
    id: UUID
    token_enc: str
    last_registered_at: datetime


@dataclass(frozen=True)
class Claim:
    """One message's wish to notify the user of one request."""

    message_id: UUID
    request_id: UUID
    ref_hash: bytes  # the device link's keyed hash, stored if the claim is granted


@dataclass(frozen=True)
class InHand:
    """A pending request this event now holds the claim to notify, with what the plugins need."""

    request_id: UUID
    sub: str
    scope: list[str]
    acr_values: list[str] | None
    binding_message: str | None
    expires_at: datetime
    created_at: datetime
    username: str
    email: str | None
    phone_number: str | None
    client_name: str
    devices: list[DeviceRow]
    ui_locales: str | None


async def take_in_hand(conn: Connection | asyncpg.Pool, claims: list[Claim], *, consumer: str,
                       now: datetime, hold: timedelta) -> list[InHand | None]:
    """For each claim: take the right to notify the user of its request for ``hold`` on behalf
    of its message and store its device link, if the message is new, the request pending and
    not yet notified, and no other message's claim holds (a message may take its own claim
    back). None where there is nothing to do; ``why_not`` tells which."""
    rows = await conn.fetch(
        """WITH wanted AS (
               SELECT * FROM unnest($2::uuid[], $3::uuid[], $4::bytea[]) AS w(message_id, request_id, ref_hash)),
           claimed AS (
               UPDATE auth_requests r SET notify_claimed_at = $5, notify_claimed_by = w.message_id
                 FROM wanted w
                WHERE r.id = ANY($3::uuid[]) AND r.id = w.request_id AND r.status = 'pending'
                  AND NOT EXISTS (SELECT 1 FROM processed_events p
                                   WHERE p.consumer = $1 AND p.message_id = w.message_id)
                  AND NOT EXISTS (SELECT 1 FROM notification_attempts a
                                   WHERE a.auth_request_id = r.id AND a.outcome = 'sent')
                  AND (r.notify_claimed_at IS NULL OR r.notify_claimed_by = w.message_id
                       OR r.notify_claimed_at <= $5::timestamptz - $6::interval)
            RETURNING w.message_id, w.ref_hash, r.id, r.sub, r.client_id, r.scope, r.acr_values,
                      r.binding_message, r.expires_at, r.created_at, r.ui_locales),
           linked AS (
               INSERT INTO device_page_refs (ref_hash, auth_request_id, created_at)
               SELECT ref_hash, id, $5 FROM claimed)
           SELECT c.message_id, c.id AS request_id, c.sub, c.scope, c.acr_values, c.binding_message, c.expires_at,
                  c.created_at, c.ui_locales,
                  u.username, u.email, u.phone_number, coalesce(cl.client_name, cl.client_id) AS client_name,
                  coalesce((SELECT jsonb_agg(jsonb_build_object(
                                'id', d.id, 'token_enc', d.token_enc, 'last_registered_at', d.last_registered_at)
                                ORDER BY d.created_at)
                              FROM devices d WHERE d.sub = c.sub), '[]'::jsonb) AS devices
             FROM claimed c JOIN users u ON u.sub = c.sub JOIN clients cl ON cl.client_id = c.client_id""",
        consumer, [c.message_id for c in claims], [c.request_id for c in claims], [c.ref_hash for c in claims],
        now, hold,
    )
    granted = {row["message_id"]: _in_hand(row) for row in rows}
    return [granted.get(claim.message_id) for claim in claims]


def _in_hand(row: asyncpg.Record) -> InHand:
    fields: dict[str, Any] = dict(row)
    del fields["message_id"]
    fields["devices"] = [DeviceRow(UUID(d["id"]), d["token_enc"], datetime.fromisoformat(d["last_registered_at"]))
                         for d in fields["devices"]]
    return InHand(**fields)


async def why_not(conn: Connection | asyncpg.Pool, *, consumer: str, message_id: UUID,
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
    if row["status"] != Status.PENDING:
        return f"the request is {row['status']}"
    if row["notified"]:
        return "already notified"
    return "another notifier is notifying this request, or its user or client was removed"


@dataclass(frozen=True)
class Sent:
    message_id: UUID
    request_id: UUID
    attempt: int
    notifier: str
    detail: str
    at: datetime


async def record_sent(conn: Connection | asyncpg.Pool, sent: list[Sent], *, consumer: str) -> list[bool]:
    """For each: the message recorded as processed and the notification as sent, in one
    statement for all; False where another delivery of the message recorded it first (or an
    earlier entry of this batch did: a message is recorded once)."""
    rows = await conn.fetch(
        """WITH processed AS (
               INSERT INTO processed_events (consumer, message_id)
               SELECT $1, m FROM unnest($2::uuid[]) m
               ON CONFLICT DO NOTHING RETURNING message_id),
           wanted AS (
               SELECT DISTINCT ON (s.message_id) s.*
                 FROM unnest($2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::text[], $7::timestamptz[])
                      WITH ORDINALITY AS s(message_id, request_id, attempt, notifier, detail, at, position)
                ORDER BY s.message_id, s.position),
           noted AS (
               INSERT INTO notification_attempts (auth_request_id, attempt, notifier, outcome, detail, at)
               SELECT w.request_id, w.attempt, w.notifier, 'sent', w.detail, w.at
                 FROM wanted w WHERE w.message_id IN (SELECT message_id FROM processed))
           SELECT message_id FROM processed""",
        consumer, [s.message_id for s in sent], [s.request_id for s in sent], [s.attempt for s in sent],
        [s.notifier for s in sent], [s.detail for s in sent], [s.at for s in sent],
    )
    # Keyed by message, not by request: two messages of one request are told apart.
    fresh = {row["message_id"] for row in rows}
    outcomes = []
    for entry in sent:
        outcomes.append(entry.message_id in fresh)
        fresh.discard(entry.message_id)
    return outcomes
