"""The Postgres side of ``NotifyUser``'s port (``notify_user.Notifications``): the notifier's
statements (services.notifier.queries) and the repositories it writes to. Constructed in
``__main__`` only."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from services.notifier import queries
from shared.db import Connection
from shared.domain import lifecycle
from shared.domain.auth_request import AuthRequest
from shared.repositories import attempts, auth_requests, devices


class PostgresNotifications:
    def __init__(self, pool: asyncpg.Pool, *, consumer: str) -> None:
        self._pool = pool
        self._consumer = consumer

    async def take_in_hand(self, claims: list[queries.Claim], *, now: datetime,
                           hold: timedelta) -> list[queries.InHand | None]:
        return await queries.take_in_hand(self._pool, claims, consumer=self._consumer, now=now, hold=hold)

    async def why_not(self, message_id: UUID, request_id: UUID) -> str:
        return await queries.why_not(self._pool, consumer=self._consumer, message_id=message_id,
                                     request_id=request_id)

    async def record_sent(self, sent: list[queries.Sent]) -> list[bool]:
        return await queries.record_sent(self._pool, sent, consumer=self._consumer)

    async def release_claim(self, request_id: UUID) -> None:
        await auth_requests.release_notification_claim(self._pool, request_id)

    async def forget_devices(self, device_ids: list[UUID], sub: str) -> int:
        return await devices.remove(self._pool, device_ids, sub)

    async def record_attempt(self, request_id: UUID, *, attempt: int, notifier: str, outcome: str, detail: str,
                             at: datetime) -> None:
        await attempts.add_notification(self._pool, request_id, attempt=attempt, notifier=notifier,
                                        outcome=outcome, detail=detail, at=at)

    async def gave_up(self, conn: Connection, request_id: UUID, *, attempt: int, notifier: str, reason: str,
                      at: datetime, service: str) -> AuthRequest | None:
        await attempts.add_notification(conn, request_id, attempt=attempt, notifier=notifier, outcome="gave_up",
                                        detail=reason[:500], at=at)
        return await lifecycle.fail(conn, request_id, now=at, service=service,
                                    reason=f"end-user notification failed: {reason}"[:500])
