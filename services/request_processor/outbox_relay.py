"""The outbox relay: moves events from Postgres to RabbitMQ (docs/architecture.md, "State and events").

Woken by the NOTIFY that ``outbox.add`` sends when its transaction commits, so an approval
reaches token-delivery in milliseconds; a slow poll covers a missed notification. Rows are
claimed with SKIP LOCKED (replicas share the work), published with publisher confirms, and
deleted in the same transaction: a crash between confirm and commit republishes, which the
consumers' deduplication absorbs.

Failures are told apart. A broker that is unreachable (connection lost, no confirm in time)
leaves every unconfirmed row where it is and the relay backs off: an outage delays events and
never costs them an attempt. A broker that answers but refuses one row (returned as
unroutable, or nacked) affects that row only: it is retried with back-off and, after
PARK_AFTER refusals, parked with its error (``ciba-admin outbox list`` / ``retry``), so one
poison row never holds back the events behind it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import orjson
from aio_pika.exceptions import DeliveryError

from shared import tracing
from shared.bus.connection import Bus
from shared.bus.consumer import AUTH_REQ_HEADER
from shared.clock import Clock
from shared.crypto import DecryptionError, Secrets
from shared.db import Connection
from shared.db.listener import PgListener
from shared.logging import auth_req_fingerprint, get_logger
from shared.loops import wait_or_stop
from shared.repositories import outbox
from shared.repositories.outbox import OutboxRow

log = get_logger("ciba.outbox")

PUBLISH_TIMEOUT_SEC = 10.0
PARK_AFTER = 5  # refusals of one row (about 15 s of back-off) before it is set aside
MAX_ROW_BACKOFF_SEC = 60.0


class _SomeFailed(Exception):
    """A row of the batch was not confirmed: roll the batch back and settle it row by row."""

    def __init__(self, outcomes: list[tuple[OutboxRow, BaseException | None]]) -> None:
        super().__init__("some rows were not confirmed")
        self.outcomes = outcomes


@dataclass
class RelayCounts:
    """Running totals, for logs now and metrics later."""

    published: int = 0
    refused: int = 0
    parked: int = 0


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, bus: Bus, secrets: Secrets, clock: Clock, *, batch_size: int = 200,
                 fallback_interval: float = 1.0) -> None:
        self._pool = pool
        self._bus = bus
        self._secrets = secrets
        self._clock = clock
        self._batch_size = batch_size
        self._fallback_interval = fallback_interval
        self._wake = asyncio.Event()
        self._reconnected = asyncio.Event()
        self.counts = RelayCounts()

    def attach(self, listener: PgListener) -> None:
        """Wake on new events; cut a back-off short when Postgres or the broker is back."""
        listener.subscribe(outbox.OUTBOX_CHANNEL, lambda _payload: self._wake.set())
        listener.on_reconnect(self._wake.set)
        listener.on_reconnect(self._reconnected.set)
        self._bus.on_reconnect(self._reconnected.set)

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
                self._reconnected.clear()
                await wait_or_stop(stop, delay, self._reconnected)
                continue
            if relayed < self._batch_size:
                await wait_or_stop(stop, self._fallback_interval, self._wake)

    async def relay_once(self) -> int:
        """Publish one batch; returns how many rows were published. Raises, after keeping what
        was published, when the broker could not be reached.

        The usual case costs three round trips: the rows are taken (deleted, locked) in one
        statement, published, and the transaction commits. Only when a row fails is it rolled
        back and settled row by row in a second transaction."""
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    rows = await outbox.take_batch(conn, self._batch_size, self._clock.now())
                    outcomes = await self._publish_all(rows) if rows else []
                    if any(error is not None for _row, error in outcomes):
                        raise _SomeFailed(outcomes)
            except _SomeFailed as failed:
                return await self._settle(conn, failed.outcomes)
        self.counts.published += len(outcomes)
        if outcomes:
            log.debug("outbox_relayed", count=len(outcomes))
        return len(outcomes)

    async def _settle(self, conn: Connection,
                      outcomes: list[tuple[OutboxRow, BaseException | None]]) -> int:
        """After a batch with failures was rolled back: delete what the broker confirmed, count
        a refusal against each refused row, and raise if the broker could not be reached."""
        unreachable: BaseException | None = None
        async with conn.transaction():
            await outbox.delete(conn, [row.id for row, error in outcomes if error is None])
            for row, error in outcomes:
                if isinstance(error, DeliveryError):
                    await self._refused(conn, row, error)
                elif error is not None and unreachable is None:
                    unreachable = error
        published = sum(1 for _row, error in outcomes if error is None)
        self.counts.published += published
        if unreachable is not None:
            raise unreachable
        return published

    async def _publish_all(self, rows: list[OutboxRow]) -> list[tuple[OutboxRow, BaseException | None]]:
        """Publish concurrently; each row's own outcome (None when confirmed)."""
        tasks = [asyncio.ensure_future(self._publish(row)) for row in rows]
        _done, pending = await asyncio.wait(tasks, timeout=PUBLISH_TIMEOUT_SEC)
        for task in pending:
            task.cancel()
        no_confirm = TimeoutError(f"no publisher confirm within {PUBLISH_TIMEOUT_SEC:g} s")
        return [(row, no_confirm if task in pending else task.exception())
                for row, task in zip(rows, tasks, strict=True)]

    async def _refused(self, conn: Connection, row: OutboxRow, error: DeliveryError) -> None:
        reason = f"{type(error).__name__}: {error}"
        refusal = await outbox.record_failure(conn, row.id, reason, now=self._clock.now(), park_after=PARK_AFTER,
                                              max_backoff=MAX_ROW_BACKOFF_SEC)
        if refusal is None:  # another relay took the row after the rollback: nothing to count
            return
        self.counts.refused += 1
        fields = {"event_type": row.routing_key, "message_id": str(row.message_id), "attempts": refusal.attempts,
                  "error": reason[:300]}
        if refusal.parked:
            self.counts.parked += 1
            log.error("outbox_row_parked", **fields)
        else:
            log.warning("outbox_row_refused", retry_in=refusal.retry_in, **fields)

    async def _publish(self, row: OutboxRow) -> None:
        headers = {}
        if row.auth_req_id_enc:
            try:
                headers[AUTH_REQ_HEADER] = auth_req_fingerprint(self._secrets.decrypt(row.auth_req_id_enc))
            except DecryptionError:
                log.error("outbox_header_undecryptable", message_id=str(row.message_id))
        if row.traceparent is None:  # always while tracing is off
            await self._bus.publish_event(row.routing_key, orjson.dumps(row.body),
                                          message_id=str(row.message_id), headers=headers)
        else:
            await self._publish_traced(row, headers)
        log.info("event_published", event_type=row.routing_key, message_id=str(row.message_id),
                 auth_req=headers.get(AUTH_REQ_HEADER))

    async def _publish_traced(self, row: OutboxRow, headers: dict[str, str]) -> None:
        """Publish in a producer span that continues the event's trace, and send that span's
        context on in the AMQP headers for the consumers."""
        with tracing.span(f"{row.routing_key} publish", parent=row.traceparent, kind="PRODUCER", attributes={
                "messaging.system": "rabbitmq", "messaging.operation.type": "send",
                "messaging.destination.name": self._bus.exchange.name,
                "messaging.rabbitmq.destination.routing_key": row.routing_key,
                "messaging.message.id": str(row.message_id)}) as opened:
            tracing.inject(headers)
            try:
                await self._bus.publish_event(row.routing_key, orjson.dumps(row.body),
                                              message_id=str(row.message_id), headers=headers)
            except Exception as exc:
                tracing.mark_error(opened, f"{type(exc).__name__}: {exc}")
                raise
