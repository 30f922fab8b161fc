"""The outbox relay: what a committed transaction wrote reaches the events exchange, with the
auth_req_id header; what was rolled back never does; what was published is deleted."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import aio_pika
import asyncpg
import pytest

from services.request_processor.outbox_relay import OutboxRelay
from shared.bus.connection import Bus
from shared.bus.consumer import AUTH_REQ_HEADER
from shared.crypto import new_token
from shared.domain.auth_request import AuthRequest
from shared.events import AuthRequestDecided, AuthRequestFailed, parse_event
from shared.logging import auth_req_fingerprint
from shared.repositories import auth_requests, clients, outbox, users
from shared.repositories.clients import CIBA_GRANT, Client
from shared.repositories.users import User
from shared.runtime import Runtime


class Observer:
    """A temporary exclusive queue bound to every routing key of the events exchange."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self.queue = queue

    async def drain(self) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Everything routed so far: the relay returns only after the broker confirmed, and a
        confirm of a routed message comes after it was enqueued."""
        messages = []
        while (message := await self.queue.get(no_ack=True, fail=False)) is not None:
            messages.append(message)
        return messages


@pytest.fixture
async def bus(backing) -> AsyncIterator[Bus]:
    bus = await Bus.connect(backing.amqp_url, backing.namespace, service="test-outbox-relay")
    yield bus
    await bus.close()


@pytest.fixture
async def observer(bus: Bus) -> Observer:
    queue = await bus.channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(bus.exchange, routing_key="#")
    return Observer(queue)


@pytest.fixture
def relay(runtime: Runtime, bus: Bus) -> OutboxRelay:
    return OutboxRelay(runtime.pool, bus, runtime.secrets, runtime.clock)


CreateRequest = Callable[[asyncpg.Connection], Awaitable[tuple[AuthRequest, str]]]


@pytest.fixture
async def create_request(runtime: Runtime) -> AsyncIterator[CreateRequest]:
    """Creates a user, a client and a pending request of theirs, all with fresh ids, in the
    caller's transaction; removes them afterwards (the database is shared)."""
    rt = runtime
    tags: list[str] = []

    async def create(conn: asyncpg.Connection) -> tuple[AuthRequest, str]:
        now = rt.clock.now()
        tag = uuid.uuid4().hex
        tags.append(tag)
        user = User(sub=f"sub-{tag}", username=f"relay-{tag}", email=None, phone_number=None,
                    password_hash="unused")
        client = Client(client_id=f"client-{tag}", client_secret_hash=None, client_name="Relay test",
                        token_endpoint_auth_method="client_secret_basic", grant_types=[CIBA_GRANT],
                        scope=["openid"], backchannel_token_delivery_mode="poll",
                        backchannel_client_notification_endpoint=None,
                        backchannel_authentication_request_signing_alg=None,
                        backchannel_user_code_parameter=False, id_token_signed_response_alg="RS256",
                        metadata={}, created_at=now)
        auth_req_id = new_token()
        request = AuthRequest(
            id=uuid.uuid4(), auth_req_id_hash=rt.secrets.hash(auth_req_id),
            auth_req_id_enc=rt.secrets.encrypt(auth_req_id), client_id=client.client_id, sub=user.sub,
            delivery_mode="poll", scope=["openid"], acr_values=None, binding_message=None,
            client_notification_token_enc=None, status="pending", interval_sec=5,
            created_at=now, expires_at=now + timedelta(seconds=600), decided_at=None, auth_time=None,
            acr=None, failure_reason=None, tokens_issued_at=None,
        )
        await users.insert(conn, user)
        await clients.insert(conn, client)
        await auth_requests.insert(conn, request)
        return request, auth_req_id

    yield create
    for tag in tags:
        await rt.pool.execute("DELETE FROM users WHERE sub = $1", f"sub-{tag}")  # cascades to requests
        await rt.pool.execute("DELETE FROM clients WHERE client_id = $1", f"client-{tag}")


async def outbox_rows(conn: asyncpg.Connection | asyncpg.Pool, message_ids: list[uuid.UUID]) -> int:
    return await conn.fetchval("SELECT count(*) FROM outbox WHERE message_id = ANY($1::uuid[])", message_ids)


async def test_committed_events_are_published_with_the_auth_req_id_header(
        runtime, relay, observer, create_request):
    async with runtime.pool.acquire() as conn, conn.transaction():
        request, auth_req_id = await create_request(conn)
        decided = AuthRequestDecided(request_id=request.id, decision="approved", delivery_mode="poll")
        await outbox.add(conn, decided)

    # Earlier tests may have left more than one batch of events in the outbox: relay them all.
    relayed = 0
    while batch := await relay.relay_once():
        relayed += batch
    published = {m.message_id: m for m in await observer.drain()}

    assert relayed >= 1
    message = published[str(decided.message_id)]
    assert message.routing_key == "auth_request.decided"
    # The fingerprint for the consumers' logs, never the auth_req_id itself.
    assert message.headers[AUTH_REQ_HEADER] == auth_req_fingerprint(auth_req_id)
    assert auth_req_id not in str(message.headers)
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert parse_event(message.body) == decided


async def test_event_without_an_auth_request_row_is_published_without_the_header(runtime, relay, observer):
    orphan = AuthRequestFailed(request_id=uuid.uuid4(), delivery_mode="ping", reason="gone")
    async with runtime.pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, orphan)

    await relay.relay_once()
    published = {m.message_id: m for m in await observer.drain()}

    message = published[str(orphan.message_id)]
    assert AUTH_REQ_HEADER not in (message.headers or {})
    assert json.loads(message.body) == orphan.model_dump(mode="json")


async def test_rolled_back_transaction_publishes_nothing(runtime, relay, observer):
    rolled_back = AuthRequestFailed(request_id=uuid.uuid4(), delivery_mode="poll", reason="never")
    committed = AuthRequestFailed(request_id=uuid.uuid4(), delivery_mode="poll", reason="kept")
    with pytest.raises(RuntimeError):
        async with runtime.pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, rolled_back)
            raise RuntimeError("abort the transaction")
    async with runtime.pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, committed)

    await relay.relay_once()
    published = {m.message_id for m in await observer.drain()}

    assert str(committed.message_id) in published
    assert str(rolled_back.message_id) not in published
    assert await outbox_rows(runtime.pool, [rolled_back.message_id]) == 0


async def test_relay_once_deletes_what_it_published(runtime, relay, observer):
    events = [AuthRequestFailed(request_id=uuid.uuid4(), delivery_mode="poll", reason=str(i)) for i in range(3)]
    async with runtime.pool.acquire() as conn, conn.transaction():
        for event in events:
            await outbox.add(conn, event)
    ids = [event.message_id for event in events]
    assert await outbox_rows(runtime.pool, ids) == 3

    await relay.relay_once()
    first = {m.message_id for m in await observer.drain()}
    again = await relay.relay_once()
    second = {m.message_id for m in await observer.drain()}

    assert {str(i) for i in ids} <= first
    assert await outbox_rows(runtime.pool, ids) == 0
    assert not {str(i) for i in ids} & second
    assert again == len(second)


async def test_relay_once_with_an_empty_outbox_publishes_nothing(runtime, relay, observer):
    await relay.relay_once()
    await observer.drain()

    assert await relay.relay_once() == 0
    assert await observer.drain() == []


async def test_relay_wakes_on_the_notify_of_a_commit(runtime, bus, observer):
    """The run loop's fallback poll is far longer than the test: only the NOTIFY can wake it."""
    slow_relay = OutboxRelay(runtime.pool, bus, runtime.secrets, runtime.clock, fallback_interval=60)
    slow_relay.attach(runtime.listener)
    listening = asyncio.ensure_future(runtime.listener.run())
    stop = asyncio.Event()
    running = asyncio.ensure_future(slow_relay.run(stop))
    try:
        await asyncio.wait_for(runtime.listener.connected.wait(), 5)
        await slow_relay.relay_once()  # the loop's first pass is done; it now waits
        await observer.drain()
        event = AuthRequestFailed(request_id=uuid.uuid4(), delivery_mode="poll", reason="wake")
        async with runtime.pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, event)

        seen = await asyncio.wait_for(_first_with_id(observer, str(event.message_id)), 3)

        assert seen.routing_key == "auth_request.failed"
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def _first_with_id(observer: Observer, message_id: str) -> aio_pika.abc.AbstractIncomingMessage:
    while True:
        for message in await observer.drain():
            if message.message_id == message_id:
                return message
        await asyncio.sleep(0.02)
