"""Issued tokens as /introspect and /revoke read and revoke them (shared.repositories.tokens;
services.gateway.endpoints.introspection.TokenRecords, revocation.RevocableTokens)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from shared.repositories import tokens
from shared.repositories.tokens import TokenRecord


class PostgresTokens:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def by_id(self, token_id: UUID) -> TokenRecord | None:
        return await tokens.get(self._pool, token_id)

    async def refresh_by_hashes(self, token_hashes: list[bytes]) -> TokenRecord | None:
        return await tokens.get_refresh(self._pool, token_hashes)

    async def revoke(self, token_id: UUID, now: datetime) -> bool:
        return await tokens.revoke(self._pool, token_id, now)

    async def revoke_grant(self, grant_id: UUID, now: datetime) -> int:
        return await tokens.revoke_grant(self._pool, grant_id, now)
