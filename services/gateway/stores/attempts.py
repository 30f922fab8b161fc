"""Counted guesses of a secret per subject (shared.domain.attempts_limit), e.g. user_codes at
/bc-authorize (services.gateway.endpoints.bc_authorize.UserCodeAttempts)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.domain.attempts_limit import AttemptLimit


class PostgresAttempts:
    def __init__(self, pool: asyncpg.Pool, limit: AttemptLimit) -> None:
        self._pool = pool
        self._limit = limit

    async def allow(self, subject: str, now: datetime) -> bool:
        return await self._limit.allow(self._pool, subject, now)

    async def succeeded(self, subject: str) -> None:
        await self._limit.succeeded(self._pool, subject)
