"""One robust RabbitMQ connection per process, with a publisher-confirm channel.

aio-pika's robust connection reconnects after a broker restart and re-declares the
exchanges, queues, bindings and consumers it knows about.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustChannel, AbstractRobustConnection

from shared.bus.topology import QueueType, declare_events_exchange

RECONNECT_INTERVAL_SEC = 1.0


class Bus:
    def __init__(self, connection: AbstractRobustConnection, channel: AbstractRobustChannel,
                 exchange: AbstractExchange, namespace: str, queue_type: QueueType = "quorum") -> None:
        self.connection = connection
        self.channel = channel
        self.exchange = exchange
        self.namespace = namespace
        self.queue_type: QueueType = queue_type

    async def ready(self) -> str | None:
        """A readiness check: None while the connection is up (aio-pika reconnects it)."""
        if self.connection.is_closed or not self.connection.connected.is_set():
            return "the RabbitMQ connection is down"
        return None

    @classmethod
    async def connect(cls, url: str, namespace: str, *, service: str, prefetch: int = 16,
                      queue_type: QueueType = "quorum") -> Bus:
        connection = await aio_pika.connect_robust(
            url, client_properties={"connection_name": f"{namespace}/{service}"},
            # aio-pika waits 5 s between reconnection attempts by default: every outage would
            # last that much longer than the broker's.
            reconnect_interval=RECONNECT_INTERVAL_SEC,
        )
        # A returned (unroutable) message raises, so the outbox keeps an event no queue took.
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await channel.set_qos(prefetch_count=prefetch)
        exchange = await declare_events_exchange(channel, namespace)
        return cls(connection, channel, exchange, namespace, queue_type)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the connection is restored after a loss."""
        self.connection.reconnect_callbacks.add(lambda *_args, **_kwargs: callback())

    async def publish_event(self, routing_key: str, body: bytes, *, message_id: str,
                            headers: dict[str, Any]) -> None:
        """Publish to the events exchange and wait for the broker's confirm; raises when no
        queue is bound for the routing key."""
        await self.exchange.publish(_message(body, message_id, headers), routing_key=routing_key, mandatory=True)

    async def publish_to_queue(self, queue: str, body: bytes, *, message_id: str,
                               headers: dict[str, Any], expiration: float | None = None) -> None:
        """Publish straight to a queue (retry and dead queues) and wait for the confirm."""
        await self.channel.default_exchange.publish(
            _message(body, message_id, headers, expiration), routing_key=queue, mandatory=True
        )

    async def close(self) -> None:
        if not self.channel.is_closed:
            await self.channel.close()
        await self.connection.close()


def _message(body: bytes, message_id: str, headers: dict[str, Any],
             expiration: float | None = None) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        message_id=message_id,
        headers=headers,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        expiration=expiration,
    )
