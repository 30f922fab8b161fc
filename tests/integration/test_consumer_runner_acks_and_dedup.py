"""The shared consumer runner against the real broker and database: ack after the effect, and
deduplication by message id, whether the copies come one after the other or are handled
concurrently."""

from __future__ import annotations

import asyncio

from shared.bus.consumer import AlreadyProcessed, Delivery
from shared.events import AnyEvent
from shared.repositories import processed_events
from tests.integration.consumer_runner_support import (
    CONSUMER,
    TIMEOUT,
    RecordingHandler,
    new_event,
    publish,
    ready_messages,
    stop,
)
from tests.integration.consumer_runner_support import start_runner as start_runner  # pytest fixture


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
