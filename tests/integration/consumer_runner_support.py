"""Shared by the consumer runner tests (test_consumer_runner_*.py): a handler that records its
calls and applies an event in the delivery's transaction, events published with
``ROUTING_KEY`` (only those modules publish with it, so the ``test-consumer`` queue sees nothing
else), a fixture starting runners on the real broker, and a look into the consumer's queues."""

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
from shared.bus.consumer import ConsumerRunner, Delivery
from shared.bus.topology import ServiceQueues
from shared.events import AnyEvent, AuthRequestCreated

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
