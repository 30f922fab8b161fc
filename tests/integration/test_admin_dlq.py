"""ciba-admin dlq list, replay and purge against the real broker: listing leaves the dead
messages where they are, replay moves them to the work queue as first attempts, purge empties
the queue. A bus namespace of its own, so no consumer of the suite takes what is replayed."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest

from shared.bus.connection import Bus
from shared.bus.consumer import ATTEMPT_HEADER
from shared.bus.topology import ServiceQueues, declare_service_queues
from shared.events import AuthRequestCreated
from tests.support.admin_cli import admin_json, ciba_admin
from tests.support.backing import drop_namespace


@pytest.fixture
async def dead_letters(backing, settings) -> AsyncIterator[tuple[Bus, list[AuthRequestCreated]]]:
    namespace = f"dlq-{uuid.uuid4().hex[:8]}"
    bus = await Bus.connect(backing.amqp_url, namespace, service="test-dlq", queue_type=settings.bus_queue_type)
    queues = ServiceQueues(namespace, "notifier")
    await declare_service_queues(bus.channel, queues, bus.exchange, ("auth_request.created",), settings.bus_queue_type)
    events = [AuthRequestCreated(request_id=uuid.uuid4(), client_id="c", delivery_mode="poll") for _ in range(3)]
    for event in events:
        await bus.publish_to_queue(queues.dead, event.model_dump_json().encode(), message_id=str(event.message_id),
                                   headers={ATTEMPT_HEADER: 5, "x-ciba-dead-reason": "webhook: 503"})
    try:
        yield bus, events
    finally:
        await bus.close()
        await drop_namespace(backing.amqp_url, namespace)


async def _count(bus: Bus, queue: str) -> int:
    channel = await bus.connection.channel()
    try:
        return (await channel.declare_queue(queue, passive=True)).declaration_result.message_count
    finally:
        await channel.close()


async def test_list_replay_and_purge_a_dead_queue(settings, dead_letters) -> None:
    bus, events = dead_letters
    own = settings.model_copy(update={"bus_namespace": bus.namespace})
    queues = ServiceQueues(bus.namespace, "notifier")

    [listed] = admin_json(own, "dlq", "list", "--service", "notifier")
    assert (listed["queue"], listed["messages"]) == (queues.dead, 3)
    assert [m["message_id"] for m in listed["first"]] == [str(e.message_id) for e in events]
    assert {(m["event_type"], m["reason"]) for m in listed["first"]} == {("auth_request.created", "webhook: 503")}
    assert await _count(bus, queues.dead) == 3  # looking took nothing away

    assert admin_json(own, "dlq", "replay", "notifier", "--limit", "2") == {"service": "notifier", "replayed": 2}
    assert (await _count(bus, queues.main), await _count(bus, queues.dead)) == (2, 1)
    replayed = await (await bus.channel.declare_queue(queues.main, passive=True)).get(no_ack=True)
    assert json.loads(replayed.body)["message_id"] == str(events[0].message_id)
    assert ATTEMPT_HEADER not in replayed.headers and "x-ciba-dead-reason" not in replayed.headers

    assert admin_json(own, "dlq", "purge", "notifier") == {"service": "notifier", "purged": 1}
    assert await _count(bus, queues.dead) == 0


def test_a_queue_that_does_not_exist_is_one_line(settings) -> None:
    own = settings.model_copy(update={"bus_namespace": f"nothing-{uuid.uuid4().hex[:8]}"})
    result = ciba_admin(own, "dlq", "purge", "token-delivery")
    assert result.returncode == 1
    assert result.stderr.startswith("ciba-admin: no such queue (has the service ever started?)")
