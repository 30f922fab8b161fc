"""ciba-admin dlq: the dead-letter queues of the notifier and token-delivery, where an event
lands once its attempts are spent (shared/bus/consumer.py).

- ``list``: how many messages each dead queue holds, and the first few (event, request,
  reason). Reading a message and handing it back leaves it in the queue.
- ``replay``: each message goes back to its service's work queue as a first attempt, and is
  removed from the dead queue only once the broker confirmed the new copy. Replaying twice is
  harmless: the consumers skip an event they already applied (processed_events).
- ``purge``: empties a dead queue; the count removed is printed.
"""

from __future__ import annotations

import json
from typing import Any

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from shared.bus.connection import Bus
from shared.bus.consumer import ATTEMPT_HEADER
from shared.bus.topology import ServiceQueues

SERVICES = ("notifier", "token-delivery")
DEAD_REASON_HEADER = "x-ciba-dead-reason"


def _text(value: Any) -> str | None:
    return value.decode(errors="replace") if isinstance(value, bytes) else value if isinstance(value, str) else None


def _describe(message: AbstractIncomingMessage) -> dict[str, Any]:
    try:
        body = json.loads(message.body)
    except ValueError:
        body = {}
    headers = message.headers or {}
    return {"message_id": message.message_id, "event_type": body.get("type") if isinstance(body, dict) else None,
            "request_id": body.get("request_id") if isinstance(body, dict) else None,
            "auth_req": _text(headers.get("auth_req")), "reason": _text(headers.get(DEAD_REASON_HEADER))}


async def _dead_queue(bus: Bus, service: str) -> AbstractQueue:
    # Passive: the queue is the services' to declare, with their arguments.
    return await bus.channel.declare_queue(ServiceQueues(bus.namespace, service).dead, passive=True)


async def listing(bus: Bus, services: list[str], sample: int) -> list[dict[str, Any]]:
    found = []
    for service in services:
        queue = await _dead_queue(bus, service)
        count = queue.declaration_result.message_count or 0
        messages = []
        for _ in range(min(count, sample)):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            messages.append(message)
        shown = [_describe(message) for message in messages]
        for message in messages:  # back where they were
            await message.nack(requeue=True)
        found.append({"service": service, "queue": queue.name, "messages": count, "first": shown})
    return found


async def replay(bus: Bus, service: str, limit: int | None) -> dict[str, Any]:
    queues = ServiceQueues(bus.namespace, service)
    queue = await _dead_queue(bus, service)
    replayed = 0
    while limit is None or replayed < limit:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        headers = {k: v for k, v in (message.headers or {}).items() if k not in (DEAD_REASON_HEADER, ATTEMPT_HEADER)}
        await bus.publish_to_queue(queues.main, message.body, message_id=message.message_id or "", headers=headers)
        await message.ack()
        replayed += 1
    return {"service": service, "replayed": replayed}


async def purge(bus: Bus, service: str) -> dict[str, Any]:
    queue = await _dead_queue(bus, service)
    result = await queue.purge()
    return {"service": service, "purged": result.message_count}
