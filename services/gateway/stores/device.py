"""What the authentication device's pages read and write: the links to requests' pages
(shared.repositories.device_refs; services.gateway.device.links.DeviceLinks) and the user
accounts signing in there (shared.repositories.users; services.gateway.device.credentials.Accounts,
pages.Users, and the account page's new user_code)."""

from __future__ import annotations

import asyncpg

from shared.domain.auth_request import AuthRequest
from shared.repositories import device_refs, users
from shared.repositories.device_refs import DeviceRef
from shared.repositories.users import User


class PostgresDeviceLinks:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def with_request(self, ref_hashes: list[bytes]) -> tuple[DeviceRef, AuthRequest | None] | None:
        return await device_refs.get_with_request(self._pool, ref_hashes)

    async def reserve_login_attempt(self, ref_hash: bytes, max_attempts: int) -> bool:
        return await device_refs.reserve_login_attempt(self._pool, ref_hash, max_attempts)

    async def release_login_attempt(self, ref_hash: bytes) -> None:
        await device_refs.release_login_attempt(self._pool, ref_hash)


class PostgresAccounts:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def by_username(self, username: str) -> User | None:
        return await users.get_by_username(self._pool, username)

    async def by_sub(self, sub: str) -> User | None:
        return await users.get(self._pool, sub)

    async def use_totp_step(self, sub: str, step: int) -> bool:
        return await users.use_totp_step(self._pool, sub, step)

    async def set_user_code(self, sub: str, code_hash: str) -> bool:
        """False when the account no longer exists (or was disabled)."""
        return await users.set_own_user_code(self._pool, sub, code_hash)
