"""The Postgres side of token-delivery's ports: what ``DeliverToClient`` reads and records
(``Callbacks``) and where a push's tokens are minted and kept (``payloads.PushTokens``).
Constructed in ``__main__`` only."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from services.token_delivery import queries
from shared.config.model import ServerConfig
from shared.db import Connection
from shared.domain.auth_request import AuthRequest
from shared.domain.token_issuance import Minter, TokenSet, issue_for_request
from shared.repositories import attempts, auth_requests
from shared.repositories.clients import Client


class PostgresCallbacks:
    def __init__(self, pool: asyncpg.Pool, *, consumer: str) -> None:
        self._pool = pool
        self._consumer = consumer

    async def load(self, message_id: UUID, request_id: UUID) -> queries.Callback | None:
        return await queries.load(self._pool, consumer=self._consumer, message_id=message_id, request_id=request_id)

    async def not_sent(self, request_id: UUID) -> None:
        await auth_requests.finish_delivery(self._pool, request_id, "not_sent")

    async def record_delivered(self, message_id: UUID, request_id: UUID, *, attempt: int, mode: str,
                               status_code: int | None, detail: str, at: datetime) -> bool:
        return await queries.record_delivered(
            self._pool, consumer=self._consumer, message_id=message_id, request_id=request_id, attempt=attempt,
            mode=mode, status_code=status_code, detail=detail, at=at)

    async def record_attempt(self, request_id: UUID, *, attempt: int, mode: str, outcome: str,
                             status_code: int | None, detail: str, at: datetime) -> None:
        await attempts.add_delivery(self._pool, request_id, attempt=attempt, mode=mode, outcome=outcome,
                                    status_code=status_code, detail=detail, at=at)

    async def dead_lettered(self, conn: Connection, request_id: UUID, *, attempt: int, mode: str, reason: str,
                            at: datetime) -> None:
        await attempts.add_delivery(conn, request_id, attempt=attempt, mode=mode, outcome="dead_lettered",
                                    status_code=None, detail=reason[:500], at=at)
        await auth_requests.finish_delivery(conn, request_id, "failed")


class PostgresPushTokens:
    def __init__(self, pool: asyncpg.Pool, minter: Minter, *, service: str) -> None:
        self._pool = pool
        self._minter = minter
        self._service = service

    async def issue(self, request: AuthRequest, client: Client, *, config: ServerConfig, now: datetime,
                    auth_req_id: str) -> TokenSet | None:
        return await issue_for_request(self._pool, self._minter, request, client, config=config, now=now,
                                       service=self._service, push_auth_req_id=auth_req_id)

    async def kept_payload(self, request_id: UUID) -> str | None:
        current = await auth_requests.get(self._pool, request_id)
        return None if current is None else current.push_payload_enc
