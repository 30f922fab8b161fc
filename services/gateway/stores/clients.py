"""Clients' registrations as /register adds them and /register/{client_id} reads, replaces and
removes them (shared.repositories.clients; services.gateway.endpoints.register.NewClients,
client_configuration.Registrations)."""

from __future__ import annotations

import asyncpg

from shared.repositories import clients
from shared.repositories.clients import Client


class PostgresRegistrations:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, client: Client, registration_token_hash: bytes) -> None:
        """The client and the hash of its registration access token, together or not at all."""
        async with self._pool.acquire() as conn, conn.transaction():
            await clients.insert(conn, client)
            await clients.set_registration_token(conn, client.client_id, registration_token_hash)

    async def registration_token_hash(self, client_id: str) -> bytes | None:
        return await clients.registration_token_hash(self._pool, client_id)

    async def get(self, client_id: str) -> Client | None:
        return await clients.get(self._pool, client_id)

    async def replace(self, client: Client) -> bool:
        return await clients.replace(self._pool, client)

    async def remove(self, client_id: str) -> bool:
        return await clients.remove(self._pool, client_id)
