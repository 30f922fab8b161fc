"""RabbitMQ names and the topology each service declares (idempotently) at start.

Per namespace ``ns`` (CIBA_BUS_NAMESPACE):

- ``ns.events``: durable topic exchange; the routing key is the event type.
- ``ns.<service>``: the service's durable queue, bound to the event types it consumes.
- ``ns.<service>.retry.<seconds>``: delay queues with no consumer. A message to retry is
  published there with a per-message expiration; when it expires RabbitMQ dead-letters it
  back into ``ns.<service>``. Delays are grouped in tiers (a message expires only at the head
  of its queue), so a message waits behind another of its tier at most that tier's spread:
  its 25 % jitter, or up to 28 s in the 32 s tier, whose delays run from 32 to 60 s.
- ``ns.<service>.dead``: what exhausted its attempts or could not be read, kept for an operator.

Events are published with ``mandatory`` and publisher confirms: an event no queue takes is
returned and stays in the outbox.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue
from aio_pika.exceptions import ChannelPreconditionFailed

# CIBA_BUS_QUEUE_TYPE: quorum queues (replicated, and safe to lose a node with) by default;
# classic for a single-node broker that wants them, or an install not migrated yet.
QueueType = Literal["quorum", "classic"]

RETRY_TIERS_SEC = (1, 2, 4, 8, 16, 32, 60)

# Who consumes what: one queue per consuming service, bound to these routing keys (event
# types). The request-processor declares them all before it relays anything, so an event is
# never published while its queue does not exist yet.
CONSUMERS: dict[str, tuple[str, ...]] = {
    "notifier": ("auth_request.created",),
    "token-delivery": ("auth_request.decided", "auth_request.expired", "auth_request.failed"),
}
MAX_RETRY_DELAY_SEC = 60.0


def events_exchange_name(namespace: str) -> str:
    return f"{namespace}.events"


@dataclass(frozen=True)
class ServiceQueues:
    namespace: str
    service: str

    @property
    def main(self) -> str:
        return f"{self.namespace}.{self.service}"

    @property
    def dead(self) -> str:
        return f"{self.main}.dead"

    def retry(self, tier: int) -> str:
        return f"{self.main}.retry.{tier}"

    def all_names(self) -> list[str]:
        return [self.main, self.dead, *(self.retry(t) for t in RETRY_TIERS_SEC)]


def backoff_delay(attempt: int, *, base: float = 1.0, cap: float = MAX_RETRY_DELAY_SEC) -> float:
    """Delay before attempt ``attempt + 1``: base doubling per attempt, plus up to 25 % jitter,
    never above ``cap``."""
    exponential: float = base * (2 ** max(attempt - 1, 0))
    return min(cap, exponential * random.uniform(1.0, 1.25))


def retry_tier(delay: float) -> int:
    """The largest tier not above the delay (the first tier for shorter delays)."""
    chosen = RETRY_TIERS_SEC[0]
    for tier in RETRY_TIERS_SEC:
        if tier <= delay:
            chosen = tier
    return chosen


async def declare_events_exchange(channel: AbstractChannel, namespace: str) -> AbstractExchange:
    return await channel.declare_exchange(
        events_exchange_name(namespace), aio_pika.ExchangeType.TOPIC, durable=True
    )


async def declare_consumer_topology(channel: AbstractChannel, namespace: str, exchange: AbstractExchange,
                                   queue_type: QueueType = "quorum") -> None:
    """Every consuming service's queues and bindings (idempotent)."""
    for service, routing_keys in CONSUMERS.items():
        await declare_service_queues(channel, ServiceQueues(namespace, service), exchange, routing_keys, queue_type)


class QueueTypeMismatch(RuntimeError):
    """A queue exists with another type than CIBA_BUS_QUEUE_TYPE asks for."""


def _arguments(queue_type: QueueType, **extra: Any) -> dict[str, Any]:
    # Classic queues are declared as they always were (no x-queue-type), so an existing
    # install's queues stay equivalent.
    return {**({"x-queue-type": "quorum"} if queue_type == "quorum" else {}), **extra}


async def _declare(channel: AbstractChannel, name: str, queue_type: QueueType, **extra: Any) -> AbstractQueue:
    try:
        return await channel.declare_queue(name, durable=True, arguments=_arguments(queue_type, **extra))
    except ChannelPreconditionFailed as exc:
        raise QueueTypeMismatch(
            f"queue {name} exists with other arguments than CIBA_BUS_QUEUE_TYPE={queue_type} gives it "
            f"({exc}); keep the type it was created with, or migrate it (README, 'Queues')") from None


async def declare_service_queues(
    channel: AbstractChannel, queues: ServiceQueues, exchange: AbstractExchange,
    routing_keys: tuple[str, ...], queue_type: QueueType = "quorum",
) -> AbstractQueue:
    main = await _declare(channel, queues.main, queue_type)
    for key in routing_keys:
        await main.bind(exchange, routing_key=key)
    # A delayed retry goes back to the work queue when its TTL ends. Quorum queues dead-letter
    # at most once unless told otherwise: at-least-once needs reject-publish overflow.
    at_least_once = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    for tier in RETRY_TIERS_SEC:
        await _declare(channel, queues.retry(tier), queue_type,
                       **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": queues.main,
                          **(at_least_once if queue_type == "quorum" else {})})
    await _declare(channel, queues.dead, queue_type)
    return main
