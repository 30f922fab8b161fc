"""New authentication requests, stored with their history and their AuthRequestCreated event
(services.gateway.endpoints.bc_authorize.NewRequests)."""

from __future__ import annotations

import asyncpg

from shared.db.batching import Batcher
from shared.domain import lifecycle
from shared.domain.auth_request import AuthRequest


class PostgresNewRequests:
    def __init__(self, pool: asyncpg.Pool, service: str) -> None:
        self._pool = pool
        self._service = service
        self._uncapped: Batcher[AuthRequest, None] = Batcher(
            lambda requests: lifecycle.create_many(pool, requests, service=service))

    async def add(self, request: AuthRequest, *, max_pending_per_user: int) -> None:
        """Without a per-user cap the requests arriving together share one statement: under
        load a commit each was the largest cost of /bc-authorize in Postgres. With one, the
        user's row is locked while counting; raises lifecycle.TooManyPending at the cap."""
        if max_pending_per_user <= 0:
            await self._uncapped.submit(request)
            return
        async with self._pool.acquire() as conn:
            await lifecycle.create(conn, request, service=self._service, max_pending_per_user=max_pending_per_user)
