"""Waking the long polls of changed requests: a NOTIFY on REQUEST_CHANGED_CHANNEL carrying the
request's id, delivered only if the transaction commits (services/gateway/long_poll.py listens)."""

from __future__ import annotations

from uuid import UUID

from shared.db import Connection

REQUEST_CHANGED_CHANNEL = "ciba_request_changed"


async def notify_changed(conn: Connection, request_id: UUID) -> None:
    """Wake long polls waiting on this request (delivered only if the transaction commits)."""
    await conn.execute("SELECT pg_notify($1, $2)", REQUEST_CHANGED_CHANNEL, str(request_id))


async def notify_changed_many(conn: Connection, request_ids: list[UUID]) -> None:
    """Wake the long polls of these requests (delivered only if the transaction commits)."""
    await conn.execute("SELECT pg_notify($1, id::text) FROM unnest($2::uuid[]) id",
                       REQUEST_CHANGED_CHANNEL, request_ids)
