"""Single-use JWT ids, one space per client (shared.repositories.jtis), for its client
assertions and its signed authentication requests (services.gateway.request_object.UsedJtis)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.repositories import jtis


class PostgresJtis:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def use(self, client_id: str, purpose: str, jti: str, expires_at: datetime) -> bool:
        return await jtis.use(self._pool, client_id, purpose, jti, expires_at)
