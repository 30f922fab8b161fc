"""The shared consumer runner against the real broker and database: ack after the effect,
deduplication by message id, retry through the delay queues, dead-lettering, draining on stop.

Only this module publishes with ``ROUTING_KEY``, so the ``test-consumer`` queue sees nothing else.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import pytest

from shared.bus.connection import Bus
from shared.bus.consumer import (
    ATTEMPT_HEADER,
    AlreadyProcessed,
    ConsumerRunner,
    Delivery,
    GiveUp,
    RetryLater,
)
from shared.bus.topology import ServiceQueues
from shared.events import AnyEvent, AuthRequestCreated
from shared.repositories import processed_events

CONSUMER = "test-consumer"
ROUTING_KEY = "test.consumer-runner"
TIMEOUT = 5.0

Behaviour = Callable[[AnyEvent, Delivery], Awaitable[None]]


@dataclass
class Call:
    message_id: uuid.UUID
    attempt: int
    at: float


@dataclass
class RecordingHandler:
    """Applies an event by recording its id in the delivery's transaction, unless a test gives
    it another ``behaviour``."""

    behaviour: Behaviour | None = None
    consumer: str = CONSUMER
    routing_keys: tuple[str, ...] = (ROUTING_KEY,)
    checks_processed: bool = False
    calls: asyncio.Queue[Call] = field(default_factory=asyncio.Queue)
    applied: list[uuid.UUID] = field(default_factory=list)
    applied_events: defaultdict[uuid.UUID, asyncio.Event] = field(
        default_factory=lambda: defaultdict(asyncio.Event))
    exhausted: list[tuple[uuid.UUID, int, str]] = field(default_factory=list)
    exhausted_event: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, event: AnyEvent, delivery: Delivery) -> None:
        self.calls.put_nowait(Call(event.message_id, delivery.attempt, asyncio.get_running_loop().time()))
        if self.behaviour is not None:
            await self.behaviour(event, delivery)
            return
        await self.apply(event, delivery)

    async def apply(self, event: AnyEvent, delivery: Delivery) -> None:
        async with delivery.transaction():
            pass
        self.applied.append(event.message_id)
        self.applied_events[event.message_id].set()

    async def on_exhausted(self, event: AnyEvent, delivery: Delivery, reason: str) -> None:
        self.exhausted.append((event.message_id, delivery.attempt, reason))
        self.exhausted_event.set()

    async def next_call(self, message_id: uuid.UUID) -> Call:
        async def matching() -> Call:
            while (call := await self.calls.get()).message_id != message_id:
                pass
            return call

        return await asyncio.wait_for(matching(), TIMEOUT)

    async def wait_applied(self, message_id: uuid.UUID) -> None:
        await asyncio.wait_for(self.applied_events[message_id].wait(), TIMEOUT)


def new_event() -> AuthRequestCreated:
    # The request id references nothing: processed_events has no foreign key.
    return AuthRequestCreated(request_id=uuid.uuid4(), client_id="test-client", delivery_mode="poll")


async def publish(bus: Bus, event: AuthRequestCreated, **headers: Any) -> None:
    await bus.publish_event(ROUTING_KEY, event.model_dump_json().encode(),
                            message_id=str(event.message_id), headers=headers)


@pytest.fixture
async def start_runner(backing, pool) -> AsyncIterator[Callable[..., Awaitable[ConsumerRunner]]]:
    opened: list[tuple[ConsumerRunner, Bus]] = []

    async def start(handler: RecordingHandler, *, max_attempts: int = 3, prefetch: int = 1) -> ConsumerRunner:
        bus = await Bus.connect(backing.amqp_url, backing.namespace, service=CONSUMER, prefetch=prefetch)
        runner = ConsumerRunner(bus, pool, handler, max_attempts=lambda: max_attempts)
        await runner.start()
        opened.append((runner, bus))
        return runner

    yield start
    for runner, bus in opened:
        await runner.stop(grace=TIMEOUT)
        await bus.close()


async def stop(runner: ConsumerRunner) -> None:
    await runner.stop(grace=TIMEOUT)
    await runner.bus.close()


async def ready_messages(backing, queue: str) -> int:
    """Messages waiting in ``queue``: after its consumer's channel closed, an unacked message
    would be back here."""
    connection = await aio_pika.connect(backing.amqp_url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0
    finally:
        await connection.close()


async def take_dead_letter(backing, message_id: str) -> aio_pika.abc.AbstractIncomingMessage:
    """Wait for ``message_id`` in the consumer's dead queue (other dead letters are dropped)."""
    connection = await aio_pika.connect(backing.amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(ServiceQueues(backing.namespace, CONSUMER).dead, passive=True)
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while asyncio.get_running_loop().time() < deadline:
            message = await queue.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
            elif message.message_id == message_id:
                return message
        raise AssertionError(f"{message_id} never reached the dead queue")
    finally:
        await connection.close()


async def test_message_is_handled_once_and_acked(backing, pool, start_runner):
    handler = RecordingHandler()
    runner = await start_runner(handler)
    event = new_event()

    await publish(runner.bus, event, auth_req_id="some-auth-req-id")
    call = await handler.next_call(event.message_id)
    await stop(runner)

    assert call.attempt == 1
    assert handler.applied == [event.message_id]
    assert await processed_events.seen(pool, CONSUMER, event.message_id)
    assert handler.calls.empty()
    assert await ready_messages(backing, f"{backing.namespace}.{CONSUMER}") == 0


async def test_same_message_published_twice_is_handled_once(pool, start_runner):
    handler = RecordingHandler()
    runner = await start_runner(handler, prefetch=1)
    event, sentinel = new_event(), new_event()

    await publish(runner.bus, event)
    await publish(runner.bus, event)
    await publish(runner.bus, sentinel)
    await handler.wait_applied(sentinel.message_id)  # prefetch 1: both copies were dealt with before

    calls = [handler.calls.get_nowait().message_id for _ in range(handler.calls.qsize())]
    assert calls == [event.message_id, sentinel.message_id]
    assert handler.applied == [event.message_id, sentinel.message_id]
    assert await pool.fetchval(
        "SELECT count(*) FROM processed_events WHERE consumer = $1 AND message_id = $2",
        CONSUMER, event.message_id) == 1


async def test_copies_handled_concurrently_apply_their_effect_once(pool, start_runner):
    both_in_handler = asyncio.Event()
    in_handler = 0
    outcomes: asyncio.Queue[str] = asyncio.Queue()
    handler = RecordingHandler()

    async def race(event: AnyEvent, delivery: Delivery) -> None:
        nonlocal in_handler
        in_handler += 1
        if in_handler == 2:
            both_in_handler.set()
        await asyncio.wait_for(both_in_handler.wait(), TIMEOUT)
        try:
            await handler.apply(event, delivery)
            outcomes.put_nowait("applied")
        except AlreadyProcessed:
            outcomes.put_nowait("refused")
            raise

    handler.behaviour = race
    runner = await start_runner(handler, prefetch=16)
    event = new_event()

    await publish(runner.bus, event)
    await publish(runner.bus, event)
    await handler.next_call(event.message_id)
    await handler.next_call(event.message_id)
    both = [await asyncio.wait_for(outcomes.get(), TIMEOUT) for _ in range(2)]

    assert sorted(both) == ["applied", "refused"]
    assert handler.applied == [event.message_id]
    assert handler.exhausted == []


async def test_handler_raising_retry_later_gets_attempt_2_after_about_a_second(pool, start_runner):
    handler = RecordingHandler()

    async def not_yet(event: AnyEvent, delivery: Delivery) -> None:
        if delivery.attempt == 1:
            raise RetryLater("the receiver is busy")
        await handler.apply(event, delivery)

    handler.behaviour = not_yet
    runner = await start_runner(handler, max_attempts=3)
    event = new_event()

    await publish(runner.bus, event)
    first = await handler.next_call(event.message_id)
    second = await handler.next_call(event.message_id)
    await handler.wait_applied(event.message_id)

    assert (first.attempt, second.attempt) == (1, 2)
    assert 0.9 <= second.at - first.at <= 3.0  # back-off of 1-1.25 s through the 1 s tier
    assert handler.applied == [event.message_id]
    assert handler.exhausted == []
    assert await processed_events.seen(pool, CONSUMER, event.message_id)


async def test_handler_failing_every_attempt_is_dead_lettered_after_max_attempts(backing, pool, start_runner):
    async def always_busy(event: AnyEvent, delivery: Delivery) -> None:
        raise RetryLater("still busy", delay=0.05)

    handler = RecordingHandler(behaviour=always_busy)
    runner = await start_runner(handler, max_attempts=3)
    event = new_event()

    await publish(runner.bus, event, auth_req_id="the-auth-req-id")
    attempts = [(await handler.next_call(event.message_id)).attempt for _ in range(3)]
    await asyncio.wait_for(handler.exhausted_event.wait(), TIMEOUT)
    dead = await take_dead_letter(backing, str(event.message_id))

    assert attempts == [1, 2, 3]
    assert handler.exhausted == [(event.message_id, 3, "still busy")]
    assert dead.body == event.model_dump_json().encode()
    assert dead.headers[ATTEMPT_HEADER] == 3
    assert dead.headers["auth_req_id"] == "the-auth-req-id"
    assert dead.headers["x-ciba-dead-reason"] == "still busy"
    assert handler.applied == []
    assert not await processed_events.seen(pool, CONSUMER, event.message_id)
    await stop(runner)
    assert handler.calls.empty()  # nothing came back after the last attempt


async def test_handler_raising_an_unexpected_error_is_retried_until_exhausted(backing, start_runner):
    async def broken(event: AnyEvent, delivery: Delivery) -> None:
        raise RuntimeError("boom")

    handler = RecordingHandler(behaviour=broken)
    runner = await start_runner(handler, max_attempts=1)
    event = new_event()

    await publish(runner.bus, event)
    await asyncio.wait_for(handler.exhausted_event.wait(), TIMEOUT)
    dead = await take_dead_letter(backing, str(event.message_id))

    assert handler.exhausted == [(event.message_id, 1, "RuntimeError: boom")]
    assert dead.headers["x-ciba-dead-reason"] == "RuntimeError: boom"


async def test_handler_giving_up_is_dead_lettered_at_once(backing, start_runner):
    async def hopeless(event: AnyEvent, delivery: Delivery) -> None:
        raise GiveUp("device token unregistered")

    handler = RecordingHandler(behaviour=hopeless)
    runner = await start_runner(handler, max_attempts=5)
    event = new_event()

    await publish(runner.bus, event)
    await asyncio.wait_for(handler.exhausted_event.wait(), TIMEOUT)
    dead = await take_dead_letter(backing, str(event.message_id))

    assert handler.exhausted == [(event.message_id, 1, "device token unregistered")]
    assert dead.headers["x-ciba-dead-reason"] == "device token unregistered"


@pytest.mark.parametrize("body", [b"{not json", b'{"type": "auth_request.unknown"}', b""])
async def test_unreadable_body_goes_to_the_dead_queue(backing, start_runner, body):
    handler = RecordingHandler()
    runner = await start_runner(handler)
    message_id = str(uuid.uuid4())

    await runner.bus.publish_event(ROUTING_KEY, body, message_id=message_id, headers={})
    dead = await take_dead_letter(backing, message_id)
    await stop(runner)

    assert dead.body == body
    assert dead.headers["x-ciba-dead-reason"] == "unreadable message"
    assert handler.calls.empty()
    assert handler.exhausted == []
    assert await ready_messages(backing, f"{backing.namespace}.{CONSUMER}") == 0


async def test_stop_waits_for_the_handler_in_progress(backing, pool, start_runner):
    started, release = asyncio.Event(), asyncio.Event()
    order: list[str] = []
    handler = RecordingHandler()

    async def slow(event: AnyEvent, delivery: Delivery) -> None:
        started.set()
        await asyncio.wait_for(release.wait(), TIMEOUT)
        await handler.apply(event, delivery)
        order.append("handler finished")

    handler.behaviour = slow
    runner = await start_runner(handler)
    event = new_event()
    await publish(runner.bus, event)
    await asyncio.wait_for(started.wait(), TIMEOUT)

    stopping = asyncio.create_task(runner.stop(grace=TIMEOUT))
    stopping.add_done_callback(lambda _: order.append("stop returned"))
    await asyncio.sleep(0.2)
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, TIMEOUT)
    await runner.bus.close()

    assert order == ["handler finished", "stop returned"]
    assert await processed_events.seen(pool, CONSUMER, event.message_id)
    assert await ready_messages(backing, f"{backing.namespace}.{CONSUMER}") == 0


async def test_stopped_runner_takes_no_new_messages(backing, start_runner):
    handler = RecordingHandler()
    runner = await start_runner(handler)
    await runner.stop(grace=TIMEOUT)
    event = new_event()

    await publish(runner.bus, event)
    await runner.bus.close()

    assert handler.calls.empty()
    assert await ready_messages(backing, f"{backing.namespace}.{CONSUMER}") == 1
    # Hand the message to a runner so the queue is empty for the next test.
    fresh = RecordingHandler()
    await start_runner(fresh)
    await fresh.next_call(event.message_id)


async def test_a_database_outage_hands_the_message_back_without_charging_an_attempt(backing, settings) -> None:
    from urllib.parse import urlsplit

    from shared.db.pool import create_pool
    from tests.support.fault_proxy import FaultProxy

    parts = urlsplit(settings.database_url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    proxied_pool = await create_pool(proxy.rewrite(settings.database_url), min_size=1, max_size=2,
                                     connect_timeout=1)
    handler = RecordingHandler()

    async def outage_on_first_call(event: AnyEvent, delivery: Delivery) -> None:
        if handler.calls.qsize() == 1 and not handler.applied:  # the first delivery
            proxy.cut()
            asyncio.get_running_loop().call_later(0.5, proxy.restore)
            await proxied_pool.fetchval("SELECT 1")  # fails: Postgres is unreachable
        await handler.apply(event, delivery)

    handler.behaviour = outage_on_first_call
    bus = await Bus.connect(backing.amqp_url, backing.namespace, service=CONSUMER, prefetch=1)
    runner = ConsumerRunner(bus, proxied_pool, handler, max_attempts=lambda: 1)
    await runner.start()
    try:
        event = new_event()
        await publish(bus, event)
        first, second = await handler.next_call(event.message_id), await handler.next_call(event.message_id)
        await handler.wait_applied(event.message_id)
        # With max_attempts 1, a charged failure would have been dead-lettered instead.
        assert (first.attempt, second.attempt) == (1, 1)
        assert handler.exhausted == []
    finally:
        await stop(runner)
        await proxied_pool.close()
        proxy.stop()
