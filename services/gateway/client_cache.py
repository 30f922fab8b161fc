"""Registered clients, cached in memory: every /bc-authorize and /token authenticates a
client, and the registration rarely changes. A change is announced by NOTIFY and evicts the
entry at once; entries also age out, and the cache is bounded. Unknown ids are not cached, so
random client_ids cannot fill it."""

from __future__ import annotations

import time
from collections import OrderedDict

import asyncpg

from shared.db.listener import PgListener
from shared.repositories import clients as clients_repo
from shared.repositories.clients import Client


class ClientCache:
    def __init__(self, pool: asyncpg.Pool, *, ttl: float = 60.0, max_entries: int = 10_000) -> None:
        self._pool = pool
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[Client, float]] = OrderedDict()

    async def get(self, client_id: str) -> Client | None:
        entry = self._entries.get(client_id)
        now = time.monotonic()
        if entry is not None and entry[1] > now:
            self._entries.move_to_end(client_id)
            return entry[0]
        client = await clients_repo.get(self._pool, client_id)
        if client is None:
            self._entries.pop(client_id, None)
            return None
        self._entries[client_id] = (client, now + self._ttl)
        self._entries.move_to_end(client_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return client

    def invalidate(self, client_id: str) -> None:
        self._entries.pop(client_id, None)

    def clear(self) -> None:
        self._entries.clear()

    def attach(self, listener: PgListener) -> None:
        listener.subscribe(clients_repo.CLIENTS_CHANNEL, self.invalidate)
        listener.on_reconnect(self.clear)
