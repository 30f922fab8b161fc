"""Users' authentication devices as /bc-deviceRegistration records them
(shared.repositories.devices; services.gateway.endpoints.device_registration.Devices)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from shared.repositories import devices, users


class PostgresDevices:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def user_exists(self, sub: str) -> bool:
        return await users.get(self._pool, sub) is not None

    async def register(self, sub: str, token_hash: bytes, token_enc: str, now: datetime, *, keep: int) -> UUID:
        return await devices.register(self._pool, sub, token_hash, token_enc, now, keep=keep)
