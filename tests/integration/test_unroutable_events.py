"""An event no queue takes is not lost: the broker returns it and the outbox keeps it; the
request-processor declares every consumer queue before it relays anything."""

from __future__ import annotations

import uuid

import aio_pika
import pytest

from services.request_processor.outbox_relay import OutboxRelay
from shared.bus.connection import Bus
from shared.bus.topology import CONSUMERS, ServiceQueues, declare_consumer_topology
from shared.events import AuthRequestExpired
from shared.repositories import outbox


@pytest.fixture
async def fresh_bus(backing):
    """A namespace nobody declared anything in yet (removed afterwards)."""
    namespace = f"{backing.namespace}_fresh_{uuid.uuid4().hex[:6]}"
    bus = await Bus.connect(backing.amqp_url, namespace, service="test-unroutable")
    yield bus
    for service in CONSUMERS:
        for queue in ServiceQueues(namespace, service).all_names():
            await bus.channel.queue_delete(queue)
    await bus.channel.exchange_delete(bus.exchange.name)
    await bus.close()


async def test_an_event_without_a_queue_stays_in_the_outbox_until_the_topology_exists(runtime, fresh_bus) -> None:
    event = AuthRequestExpired(request_id=uuid.uuid4(), delivery_mode="ping")
    async with runtime.pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, event)
    relay = OutboxRelay(runtime.pool, fresh_bus, runtime.secrets, batch_size=10_000)
    try:
        with pytest.raises(aio_pika.exceptions.DeliveryError):
            await relay.relay_once()
        assert await runtime.pool.fetchval("SELECT count(*) FROM outbox WHERE message_id = $1",
                                           event.message_id) == 1
        await declare_consumer_topology(fresh_bus.channel, fresh_bus.namespace, fresh_bus.exchange)
        await relay.relay_once()
        assert await runtime.pool.fetchval("SELECT count(*) FROM outbox WHERE message_id = $1",
                                           event.message_id) == 0
        queue = await fresh_bus.channel.get_queue(ServiceQueues(fresh_bus.namespace, "token-delivery").main)
        delivered = []  # the shared database's outbox may have held other events too
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            delivered.append(message.message_id)
        assert str(event.message_id) in delivered
    finally:
        await runtime.pool.execute("DELETE FROM outbox WHERE message_id = $1", event.message_id)
