"""Attempts to reach the user (notifications) and the client (deliveries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.db import Connection


async def add_notification(
    conn: Connection | asyncpg.Pool, request_id: UUID, *, attempt: int, notifier: str,
    outcome: str, detail: str | None, at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO notification_attempts (auth_request_id, attempt, notifier, outcome, detail, at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        request_id, attempt, notifier, outcome, detail, at,
    )


async def add_delivery(
    conn: Connection | asyncpg.Pool, request_id: UUID, *, attempt: int, mode: str,
    outcome: str, status_code: int | None, detail: str | None, at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO delivery_attempts (auth_request_id, attempt, mode, outcome, status_code, detail, at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        request_id, attempt, mode, outcome, status_code, detail, at,
    )


async def notifications(conn: Connection | asyncpg.Pool, request_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT attempt, notifier, outcome, detail, at FROM notification_attempts"
        " WHERE auth_request_id = $1 ORDER BY id",
        request_id,
    )
    return [dict(row) for row in rows]


async def deliveries(conn: Connection | asyncpg.Pool, request_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT attempt, mode, outcome, status_code, detail, at FROM delivery_attempts"
        " WHERE auth_request_id = $1 ORDER BY id",
        request_id,
    )
    return [dict(row) for row in rows]


async def notification_sent(conn: Connection | asyncpg.Pool, request_id: UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT true FROM notification_attempts WHERE auth_request_id = $1 AND outcome = 'sent' LIMIT 1",
        request_id,
    ))
