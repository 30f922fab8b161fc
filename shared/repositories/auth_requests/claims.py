"""Notification claims: which event may notify the user of a request, and the pending requests
no notifier ever claimed (their created event was lost), announced again."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from shared.db import Connection
from shared.domain.auth_request import AuthRequest
from shared.repositories.auth_requests._rows import R_COLUMNS, to_request


async def claim_unannounced(conn: Connection, *, created_before: datetime, max_reannounce: int,
                            limit: int) -> list[AuthRequest]:
    """Pending requests old enough to have been notified, never claimed by a notifier, with no
    notification attempt and no event waiting in the outbox: their created event was lost or
    dead-lettered. Counts the re-announcement on each. (A notifier claims every request it
    takes in hand, and one that dies holding a claim sees its message redelivered; the
    unclaimed are few, and the index auth_requests_unclaimed holds just them.)"""
    rows = await conn.fetch(
        f"""UPDATE auth_requests r SET reannounced = r.reannounced + 1
             WHERE r.id = ANY(ARRAY(
                   SELECT a.id FROM auth_requests a
                    WHERE a.status = 'pending' AND a.notify_claimed_at IS NULL
                      AND a.created_at < $1 AND a.reannounced < $2
                      AND NOT EXISTS (SELECT 1 FROM notification_attempts n WHERE n.auth_request_id = a.id)
                      AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.auth_request_id = a.id)
                    ORDER BY a.created_at
                    LIMIT $3
                    FOR UPDATE SKIP LOCKED))
         RETURNING {R_COLUMNS}""",
        created_before, max_reannounce, limit,
    )
    return [to_request(row) for row in rows]


async def claim_notification(conn: Connection | asyncpg.Pool, request_id: UUID, now: datetime,
                             hold: timedelta, owner: UUID) -> bool:
    """Claim the right to notify the user for ``hold`` on behalf of the event ``owner``; False
    while another event's claim holds (the same event may always take its own claim back)."""
    return bool(await conn.fetchval(
        """UPDATE auth_requests SET notify_claimed_at = $2, notify_claimed_by = $4
            WHERE id = $1 AND (notify_claimed_at IS NULL OR notify_claimed_by = $4
                               OR notify_claimed_at <= $2::timestamptz - $3::interval)
        RETURNING true""",
        request_id, now, hold, owner,
    ))


async def release_notification_claim(conn: Connection | asyncpg.Pool, request_id: UUID) -> None:
    await conn.execute("UPDATE auth_requests SET notify_claimed_at = NULL, notify_claimed_by = NULL WHERE id = $1",
                       request_id)
