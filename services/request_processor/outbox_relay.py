"""The outbox relay: moves events from Postgres to RabbitMQ (DESIGN.md, "State and events").

Woken by the NOTIFY that ``outbox.add`` sends when its transaction commits, so an approval
reaches token-delivery in milliseconds; a slow poll covers a missed notification. Rows are
claimed with SKIP LOCKED (replicas share the work), published with publisher confirms, and
deleted in the same transaction: a crash between confirm and commit republishes, which the
consumers' deduplication absorbs. A broker outage leaves the rows where they are.
"""

from __future__ import annotations

import asyncio
import json

import asyncpg

from shared.bus.connection import Bus
from shared.bus.consumer import AUTH_REQ_ID_HEADER
from shared.crypto import DecryptionError, Secrets
from shared.db.listener import PgListener
from shared.logging import get_logger
from shared.loops import wait_or_stop
from shared.repositories import outbox
from shared.repositories.outbox import OutboxRow

log = get_logger("ciba.outbox")

PUBLISH_TIMEOUT_SEC = 10.0


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, bus: Bus, secrets: Secrets, *, batch_size: int = 200,
                 fallback_interval: float = 1.0) -> None:
        self._pool = pool
        self._bus = bus
        self._secrets = secrets
        self._batch_size = batch_size
        self._fallback_interval = fallback_interval
        self._wake = asyncio.Event()

    def attach(self, listener: PgListener) -> None:
        listener.subscribe(outbox.OUTBOX_CHANNEL, lambda _payload: self._wake.set())
        listener.on_reconnect(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            self._wake.clear()
            try:
                relayed = await self.relay_once()
                failures = 0
            except Exception as exc:
                failures += 1
                delay = min(0.5 * 2**failures, 10.0)
                log.warning("outbox_relay_failed", error=str(exc)[:200] or type(exc).__name__,
                            retry_in=delay)
                await wait_or_stop(stop, delay)
                continue
            if relayed < self._batch_size:
                await wait_or_stop(stop, self._fallback_interval, self._wake)

    async def relay_once(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await outbox.claim_batch(conn, self._batch_size)
            if not rows:
                return 0
            await asyncio.wait_for(
                asyncio.gather(*(self._publish(row) for row in rows)), PUBLISH_TIMEOUT_SEC
            )
            await outbox.delete(conn, [row.id for row in rows])
        log.debug("outbox_relayed", count=len(rows))
        return len(rows)

    async def _publish(self, row: OutboxRow) -> None:
        headers = {}
        if row.auth_req_id_enc:
            try:
                headers[AUTH_REQ_ID_HEADER] = self._secrets.decrypt(row.auth_req_id_enc)
            except DecryptionError:
                log.error("outbox_header_undecryptable", message_id=str(row.message_id))
        await self._bus.publish_event(row.routing_key, json.dumps(row.body).encode(),
                                      message_id=str(row.message_id), headers=headers)
        log.info("event_published", event_type=row.routing_key, message_id=str(row.message_id),
                 auth_req_id=headers.get(AUTH_REQ_ID_HEADER))
