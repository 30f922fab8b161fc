"""An event no queue takes is not lost: the broker returns it and the outbox keeps it; the
request-processor declares every consumer queue before it relays anything."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from services.admin import commands
from services.request_processor.outbox_relay import MAX_ROW_BACKOFF_SEC, PARK_AFTER, OutboxRelay
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


async def test_an_event_without_a_queue_stays_in_the_outbox_until_the_topology_exists(
        runtime, fresh_bus, clock) -> None:
    event = AuthRequestExpired(request_id=uuid.uuid4(), delivery_mode="ping")
    async with runtime.pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, event)
    relay = OutboxRelay(runtime.pool, fresh_bus, runtime.secrets, runtime.clock, batch_size=10_000)
    try:
        await relay.relay_once()
        kept = await runtime.pool.fetchrow("SELECT attempts, last_error FROM outbox WHERE message_id = $1",
                                           event.message_id)
        assert kept["attempts"] == 1 and "PublishError" in kept["last_error"]
        await declare_consumer_topology(fresh_bus.channel, fresh_bus.namespace, fresh_bus.exchange)
        clock.advance(2)  # past the row's back-off
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
        await forget_refusals(runtime)


async def forget_refusals(runtime) -> None:
    """The database is shared: other tests' events this relay tried must look untouched."""
    await runtime.pool.execute(
        "UPDATE outbox SET attempts = 0, last_error = NULL, next_attempt_at = NULL, parked_at = NULL")


class Unconsumed(AuthRequestExpired):
    """An event type no queue is bound for: the broker returns it as unroutable."""

    @property
    def routing_key(self) -> str:
        return "auth_request.nobody_listens"


@pytest.fixture
async def declared_bus(backing) -> AsyncIterator[Bus]:
    bus = await Bus.connect(backing.amqp_url, backing.namespace, service="test-poison")
    await declare_consumer_topology(bus.channel, bus.namespace, bus.exchange)
    yield bus
    await bus.close()


async def add_events(runtime, *events) -> None:
    async with runtime.pool.acquire() as conn, conn.transaction():
        for event in events:
            await outbox.add(conn, event)


async def test_a_poison_row_does_not_hold_back_the_events_behind_it_and_is_parked(
        runtime, declared_bus, clock, settings) -> None:
    poison = Unconsumed(request_id=uuid.uuid4(), delivery_mode="ping")
    behind = AuthRequestExpired(request_id=uuid.uuid4(), delivery_mode="ping")
    await add_events(runtime, poison, behind)
    relay = OutboxRelay(runtime.pool, declared_bus, runtime.secrets, runtime.clock, batch_size=10_000)
    try:
        await relay.relay_once()
        assert await outbox_ids(runtime, poison, behind) == {poison.message_id}  # the good one went out
        for _ in range(PARK_AFTER - 1):
            later = AuthRequestExpired(request_id=uuid.uuid4(), delivery_mode="ping")
            await add_events(runtime, later)
            clock.advance(MAX_ROW_BACKOFF_SEC)
            await relay.relay_once()
            assert await outbox_ids(runtime, later) == set()
        parked = await runtime.pool.fetchrow(
            "SELECT attempts, parked_at, last_error FROM outbox WHERE message_id = $1", poison.message_id)
        assert parked["attempts"] == PARK_AFTER and parked["parked_at"] is not None
        assert relay.counts.parked == 1 and relay.counts.refused == PARK_AFTER

        # Parked rows are set aside: the relay no longer tries them...
        clock.advance(MAX_ROW_BACKOFF_SEC)
        await relay.relay_once()
        assert relay.counts.refused == PARK_AFTER
        # ...and the operator sees them, with their error, and can send them again.
        args = type("Args", (), {"ids": [], "all": True})()
        listed = await commands.outbox_list(settings, args)
        [row] = [r for r in listed if r["message_id"] == str(poison.message_id)]
        assert row["event_type"] == "auth_request.nobody_listens" and "PublishError" in row["last_error"]
        assert (await commands.outbox_retry(settings, args))["requeued"] >= 1
        assert (await runtime.pool.fetchrow("SELECT attempts, parked_at FROM outbox WHERE message_id = $1",
                                            poison.message_id))["parked_at"] is None
    finally:
        await runtime.pool.execute("DELETE FROM outbox WHERE message_id = $1", poison.message_id)
        await forget_refusals(runtime)


async def outbox_ids(runtime, *events) -> set[uuid.UUID]:
    rows = await runtime.pool.fetch("SELECT message_id FROM outbox WHERE message_id = ANY($1::uuid[])",
                                    [e.message_id for e in events])
    return {row["message_id"] for row in rows}
