"""Clients' secrets as client authentication keeps them current (shared.repositories.clients;
services.gateway.client_auth.ClientSecrets)."""

from __future__ import annotations

import asyncpg

from shared.repositories import clients


class PostgresClientSecrets:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def store_secret(self, client_id: str, secret_hash: bytes, secret_enc: str) -> None:
        await clients.store_secret(self._pool, client_id, secret_hash, secret_enc)
