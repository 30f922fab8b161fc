"""The shared consumer runner against the real broker and database: draining on stop, which waits
for the handler in progress, and a stopped runner taking no new messages."""

from __future__ import annotations

import asyncio

from shared.bus.consumer import Delivery
from shared.events import AnyEvent
from shared.repositories import processed_events
from tests.integration.consumer_runner_support import (
    CONSUMER,
    TIMEOUT,
    RecordingHandler,
    new_event,
    publish,
    ready_messages,
)
from tests.integration.consumer_runner_support import start_runner as start_runner  # pytest fixture


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
