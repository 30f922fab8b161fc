"""CIBA_BUS_QUEUE_TYPE: quorum queues by default, classic on request. A delayed retry comes
back to the work queue with either type, and a queue that exists with the other type stops
the service with a line that says what to do."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from shared.bus.connection import Bus
from shared.bus.topology import QueueTypeMismatch, ServiceQueues, declare_consumer_topology
from tests.support.backing import drop_namespace


@pytest.fixture
async def namespace(backing) -> AsyncIterator[str]:
    name = f"ciba_qt_{uuid.uuid4().hex[:8]}"
    yield name
    await drop_namespace(backing.amqp_url, name)


@pytest.mark.parametrize("queue_type", ["quorum", "classic"])
async def test_a_delayed_retry_comes_back_to_the_work_queue(backing, namespace, queue_type) -> None:
    bus = await Bus.connect(backing.amqp_url, namespace, service="test-queue-types", queue_type=queue_type)
    try:
        await declare_consumer_topology(bus.channel, namespace, bus.exchange, queue_type)
        queues = ServiceQueues(namespace, "notifier")
        await bus.publish_to_queue(queues.retry(1), b'{"retry": true}', message_id="m-1", headers={},
                                   expiration=0.2)
        main = await bus.channel.get_queue(queues.main, ensure=False)
        for _ in range(50):
            message = await main.get(fail=False)
            if message is not None:
                break
            await asyncio.sleep(0.1)
        assert message is not None and message.body == b'{"retry": true}'
        await message.ack()
    finally:
        await bus.close()


async def test_a_queue_of_the_other_type_is_refused_with_a_clear_line(backing, namespace) -> None:
    bus = await Bus.connect(backing.amqp_url, namespace, service="test-queue-types")
    try:
        await declare_consumer_topology(bus.channel, namespace, bus.exchange)  # quorum, the default
    finally:
        await bus.close()
    connection = await aio_pika.connect(backing.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(f"{namespace}.events", aio_pika.ExchangeType.TOPIC, durable=True)
        with pytest.raises(QueueTypeMismatch, match=r"exists with other arguments than CIBA_BUS_QUEUE_TYPE=classic"):
            await declare_consumer_topology(channel, namespace, exchange, "classic")
    finally:
        await connection.close()
