"""The user directory as /bc-authorize's hints look it up (services.gateway.hints.UserDirectory)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from shared.db.batching import Batcher
from shared.repositories import users
from shared.repositories.users import User


class PostgresUsers:
    def __init__(self, pool: asyncpg.Pool, login_hint_claims: Callable[[], list[str]]) -> None:
        """``login_hint_claims``: the claims a login_hint may match (backchannelLoginHintClaims),
        read when a batch goes out, so a configuration change applies to the next one."""
        self._pool = pool
        # login_hints looked up together: one statement a batch (shared.db.batching).
        self._login_hints: Batcher[str, list[User]] = Batcher(
            lambda hints: users.find_by_login_hints(pool, hints, login_hint_claims()))

    async def by_login_hint(self, value: str) -> list[User]:
        return await self._login_hints.submit(value)

    async def by_claim(self, claim: str, value: str) -> list[User]:
        return await users.find_by_claim(self._pool, claim, value)

    async def by_sub(self, sub: str) -> User | None:
        return await users.get(self._pool, sub)
