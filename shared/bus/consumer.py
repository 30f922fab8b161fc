"""The one consumer runner every service uses.

For each message: parse the typed event, bind its ids into the log context, skip it if this
consumer already applied it, run the handler, record the event id in the same transaction as
the handler's effect, and only then ack. A handler that raises is retried with exponential
back-off through the delay queues (never a sleeping consumer); once its attempts are spent the
message goes to the service's dead queue and the handler's ``on_exhausted`` records the
outcome. Nothing is acked before it is either applied or safely re-published.

A failure because the database is unreachable is not the message's fault: the message is
handed back to the queue after a pause, without being charged an attempt, so an outage of
Postgres delays work and never fails a request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import asyncpg
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError

from shared import metrics, tracing
from shared.bus.connection import Bus
from shared.bus.topology import ServiceQueues, backoff_delay, declare_service_queues, retry_tier
from shared.db import Connection
from shared.db.errors import database_unavailable
from shared.events import AnyEvent, parse_event
from shared.logging import bind_request, get_logger
from shared.repositories import processed_events

ATTEMPT_HEADER = "x-ciba-attempt"
# The auth_req_id's fingerprint (shared.logging.auth_req_fingerprint), for the logs.
AUTH_REQ_HEADER = "auth_req"
_OLD_AUTH_REQ_ID_HEADER = "auth_req_id"  # messages published before the fingerprint
# How long a message handed back during an outage waits first, so it is no hot loop.
REQUEUE_PAUSE_SEC = 1.0

log = get_logger("ciba.consumer")


class RetryLater(Exception):
    """The handler could not finish now; try again after a back-off."""

    def __init__(self, reason: str, *, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class GiveUp(Exception):
    """The handler failed for good (retrying cannot help): dead-letter at once."""


class DatabaseUnavailable(Exception):
    """Postgres did not answer: hand the message back, charging it nothing."""


class AlreadyProcessed(Exception):
    """Raised inside ``Delivery.transaction`` when another delivery applied this event first."""


class Delivery:
    """What a handler gets besides the event: the attempt number and a transaction that
    records the event id together with the handler's effect."""

    def __init__(self, pool: asyncpg.Pool, consumer: str, event: AnyEvent, attempt: int,
                 max_attempts: int) -> None:
        self.pool = pool
        self.consumer = consumer
        self.event = event
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.recorded = False

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await processed_events.mark(conn, self.consumer, self.event.message_id):
                raise AlreadyProcessed
            yield conn
        self.recorded = True

    def no_effect(self) -> None:
        """The handler had nothing to do for this event and never will (a poll client's
        decision, say): a redelivery does nothing either, so there is nothing to record."""
        self.recorded = True

    async def record(self) -> None:
        """Record the event as processed with no other effect (one statement)."""
        if not await processed_events.mark(self.pool, self.consumer, self.event.message_id):
            raise AlreadyProcessed
        self.recorded = True


class Handler(Protocol):
    consumer: str
    routing_keys: tuple[str, ...]
    # True when the handler's own first statement skips an event already processed, which
    # spares the runner's separate look-up (a round trip per message).
    checks_processed: bool

    async def handle(self, event: AnyEvent, delivery: Delivery) -> None: ...

    async def on_exhausted(self, event: AnyEvent, delivery: Delivery, reason: str) -> None: ...


class ConsumerRunner:
    def __init__(self, bus: Bus, pool: asyncpg.Pool, handler: Handler, *,
                 max_attempts: Callable[[], int]) -> None:
        self.bus = bus
        self.pool = pool
        self.handler = handler
        self.queues = ServiceQueues(bus.namespace, handler.consumer)
        self._max_attempts = max_attempts
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._queue = await declare_service_queues(
            self.bus.channel, self.queues, self.bus.exchange, self.handler.routing_keys, self.bus.queue_type
        )
        self._consumer_tag = await self._queue.consume(self._on_message)
        log.info("consumer_started", queue=self.queues.main)

    async def stop(self, grace: float) -> None:
        """Stop taking messages, then let the ones in hand finish (up to ``grace`` seconds).
        What does not finish stays unacked and is redelivered to another replica."""
        if self._queue is not None and self._consumer_tag is not None:
            try:
                await self._queue.cancel(self._consumer_tag)
            except Exception as exc:  # the channel may already be gone
                log.warning("consumer_cancel_failed", error=str(exc))
            self._consumer_tag = None
        if self._in_flight:
            log.info("consumer_draining", in_flight=len(self._in_flight))
            await asyncio.wait(set(self._in_flight), timeout=grace)
        log.info("consumer_stopped", queue=self.queues.main)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            headers = dict(message.headers or {})
            with bind_request(auth_req=_text(headers.get(AUTH_REQ_HEADER)),
                              auth_req_id=_text(headers.get(_OLD_AUTH_REQ_ID_HEADER)),
                              message_id=message.message_id):
                try:
                    if tracing.enabled():
                        await self._process_traced(message, headers)
                    else:
                        await self._process(message, headers)
                except Exception as exc:
                    # The database or the broker is unreachable (for our bookkeeping or the
                    # handler's): hand the message back, after a pause so an outage does not
                    # become a hot loop.
                    if database_unavailable(exc) or isinstance(exc, DatabaseUnavailable):
                        log.warning("message_requeued_database_unavailable", error=_describe(exc))
                    else:
                        log.exception("message_requeued_after_failure")
                    await asyncio.sleep(REQUEUE_PAUSE_SEC)
                    if not message.processed:
                        await message.nack(requeue=True)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _process_traced(self, message: AbstractIncomingMessage, headers: dict[str, Any]) -> None:
        """``_process`` in a consumer span that continues the trace the relay sent in the
        headers (a retried message keeps its headers, so its attempts share the trace)."""
        with tracing.span(f"{self.queues.main} process", headers=headers, kind="CONSUMER", attributes={
                "messaging.system": "rabbitmq", "messaging.operation.type": "process",
                "messaging.destination.name": self.queues.main, "messaging.message.id": message.message_id or "",
                "messaging.rabbitmq.destination.routing_key": message.routing_key or "",
                "ciba.consumer": self.handler.consumer,
                "ciba.attempt": int(headers.get(ATTEMPT_HEADER) or 1)}):
            await self._process(message, headers)

    async def _process(self, message: AbstractIncomingMessage, headers: dict[str, Any]) -> None:
        try:
            event = parse_event(message.body)
        except ValidationError as exc:
            log.error("message_unreadable", error=str(exc)[:500])
            await self._dead_letter(message, headers, "unreadable message")
            await message.ack()
            self._count("dead_lettered")
            return
        attempt = int(headers.get(ATTEMPT_HEADER) or 1)
        delivery = Delivery(self.pool, self.handler.consumer, event, attempt, self._max_attempts())
        with bind_request(event_type=event.type, auth_request=str(event.request_id), attempt=attempt):
            if not self.handler.checks_processed and await processed_events.seen(
                    self.pool, self.handler.consumer, event.message_id):
                log.info("event_already_processed")
                await message.ack()
                self._count("duplicate")
                return
            started = time.perf_counter()
            try:
                await self.handler.handle(event, delivery)
                if not delivery.recorded:
                    await delivery.record()
                self._count("ok")
            except AlreadyProcessed:
                log.info("event_already_processed")
                self._count("duplicate")
            except GiveUp as exc:
                await self._exhausted(message, headers, event, delivery, str(exc))
            except RetryLater as exc:
                await self._retry_or_exhaust(message, headers, event, delivery, exc.reason, exc.delay)
            except Exception as exc:
                if database_unavailable(exc) and not await self._database_answers():
                    raise DatabaseUnavailable(_describe(exc)) from exc
                log.exception("handler_failed")
                await self._retry_or_exhaust(message, headers, event, delivery,
                                             f"{type(exc).__name__}: {exc}"[:300], None)
            finally:
                metrics.CONSUMER_HANDLE.labels(self.handler.consumer).observe(time.perf_counter() - started)
            await message.ack()

    def _count(self, result: str) -> None:
        metrics.CONSUMER_MESSAGES.labels(self.handler.consumer, result).inc()

    async def _database_answers(self) -> bool:
        """Whether Postgres answers now: an OSError or timeout from a handler is an outage only
        if it does not (a plugin's own network error is the handler's failure)."""
        try:
            await self.pool.fetchval("SELECT 1", timeout=2)
        except Exception:
            return False
        return True

    async def _retry_or_exhaust(self, message: AbstractIncomingMessage, headers: dict[str, Any],
                                event: AnyEvent, delivery: Delivery, reason: str,
                                delay: float | None) -> None:
        if delivery.last_attempt:
            await self._exhausted(message, headers, event, delivery, reason)
            return
        delay = delay if delay is not None else backoff_delay(delivery.attempt)
        tier = retry_tier(delay)
        await self.bus.publish_to_queue(
            self.queues.retry(tier), message.body, message_id=str(event.message_id),
            headers={**headers, ATTEMPT_HEADER: delivery.attempt + 1}, expiration=delay,
        )
        log.info("event_retry_scheduled", reason=reason, delay_sec=round(delay, 2),
                 next_attempt=delivery.attempt + 1)
        self._count("retried")

    async def _exhausted(self, message: AbstractIncomingMessage, headers: dict[str, Any],
                         event: AnyEvent, delivery: Delivery, reason: str) -> None:
        log.error("event_attempts_exhausted", reason=reason)
        try:
            await self.handler.on_exhausted(event, delivery, reason)
        except AlreadyProcessed:
            pass
        await self._dead_letter(message, headers, reason)
        self._count("dead_lettered")

    async def _dead_letter(self, message: AbstractIncomingMessage, headers: dict[str, Any],
                           reason: str) -> None:
        await self.bus.publish_to_queue(
            self.queues.dead, message.body, message_id=message.message_id or "",
            headers={**headers, "x-ciba-dead-reason": reason[:500]},
        )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else None
