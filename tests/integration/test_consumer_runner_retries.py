"""The shared consumer runner against the real broker and database: retry through the delay
queues, dead-lettering after the last attempt, on an unexpected error, at once on GiveUp or an
unreadable body, and a database outage that hands the message back without charging an
attempt."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared.bus.connection import Bus
from shared.bus.consumer import ATTEMPT_HEADER, ConsumerRunner, Delivery, GiveUp, RetryLater
from shared.events import AnyEvent
from shared.repositories import processed_events
from tests.integration.consumer_runner_support import (
    CONSUMER,
    ROUTING_KEY,
    TIMEOUT,
    RecordingHandler,
    new_event,
    publish,
    ready_messages,
    stop,
    take_dead_letter,
)
from tests.integration.consumer_runner_support import start_runner as start_runner  # pytest fixture


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
