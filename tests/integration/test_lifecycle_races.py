"""The request's state machine against the real database: expiry by the sweep, and approval
racing expiry resolving exactly once (docs/architecture.md, "State and events"). Time is the FrozenClock's;
nothing sleeps to make a request expire."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import asyncpg
import pytest

from services.request_processor import expiry_sweep
from shared.clock import FrozenClock
from shared.crypto import Secrets, new_token
from shared.domain import lifecycle
from shared.domain.auth_request import AuthRequest
from shared.events import parse_event
from shared.repositories import auth_requests, clients, device_refs, users
from shared.repositories import config as config_repo
from shared.repositories.clients import CIBA_GRANT, Client
from shared.repositories.users import User
from shared.settings import DEVELOPMENT_SECRET_KEY

SERVICE = "request-processor"
LIFETIME = 10  # seconds a test request lives; the clock moves just past it
CHUNK_SIZE = "backchannelRequestsProcessorJobChunkSize"

MakeRequest = Callable[..., Awaitable[AuthRequest]]


@pytest.fixture
async def make_request(pool: asyncpg.Pool, clock: FrozenClock) -> AsyncIterator[MakeRequest]:
    """Creates pending requests (with fresh user and client rows) through lifecycle.create;
    removes them all afterwards (the database is shared with other modules)."""
    secrets = Secrets(DEVELOPMENT_SECRET_KEY.encode())
    tag = uuid.uuid4().hex
    created: list[uuid.UUID] = []
    async with pool.acquire() as conn:
        await users.insert(conn, User(sub=f"sub-{tag}", username=f"lifecycle-{tag}", email=None,
                                      phone_number=None, password_hash="unused"))
        await clients.insert(conn, Client(
            client_id=f"client-{tag}", client_secret_hash=None, client_name="Lifecycle test",
            token_endpoint_auth_method="client_secret_basic", grant_types=[CIBA_GRANT],
            scope=["openid"], backchannel_token_delivery_mode="poll",
            backchannel_client_notification_endpoint=None,
            backchannel_authentication_request_signing_alg=None,
            backchannel_user_code_parameter=False, id_token_signed_response_alg="RS256",
            metadata={}, created_at=clock.now()))

    async def make(*, lifetime: float = LIFETIME) -> AuthRequest:
        now = clock.now()
        auth_req_id = new_token()
        request = AuthRequest(
            id=uuid.uuid4(), auth_req_id_hash=secrets.hash(auth_req_id),
            auth_req_id_enc=secrets.encrypt(auth_req_id), client_id=f"client-{tag}", sub=f"sub-{tag}",
            delivery_mode="poll", scope=["openid"], acr_values=None, binding_message=None,
            client_notification_token_enc=None, status="pending", interval_sec=5,
            created_at=now, expires_at=now + timedelta(seconds=lifetime),
            decided_at=None, auth_time=None, acr=None, failure_reason=None, tokens_issued_at=None,
        )
        async with pool.acquire() as conn:
            await lifecycle.create(conn, request, service="gateway")
        created.append(request.id)
        return request

    yield make
    # Leave nothing a later sweep, recovery scan or relay could pick up.
    await pool.execute("DELETE FROM outbox WHERE auth_request_id = ANY($1::uuid[])", created)
    await pool.execute("DELETE FROM users WHERE sub = $1", f"sub-{tag}")  # cascades to its requests
    await pool.execute("DELETE FROM clients WHERE client_id = $1", f"client-{tag}")


async def status_of(pool: asyncpg.Pool, request: AuthRequest) -> str:
    found = await auth_requests.get(pool, request.id)
    assert found is not None
    return found.status


async def events_after_created(pool: asyncpg.Pool, request: AuthRequest) -> list[str]:
    """The routing keys of the request's events after its created one; each body must be the
    event a consumer can read."""
    rows = await pool.fetch("SELECT routing_key, body FROM outbox WHERE auth_request_id = $1 ORDER BY id",
                            request.id)
    for row in rows:
        event = parse_event(json.dumps(row["body"]))
        assert (event.type, event.request_id) == (row["routing_key"], request.id)
    keys = [row["routing_key"] for row in rows]
    assert keys[0] == "auth_request.created"
    return keys[1:]


async def history_after_pending(pool: asyncpg.Pool, request: AuthRequest) -> list[dict]:
    history = await auth_requests.history(pool, request.id)
    assert history[0]["status"] == "pending"
    return history[1:]


def ours(requests: list[AuthRequest], mine: list[AuthRequest]) -> list[uuid.UUID]:
    """The ids of ``requests`` that this test created (the sweep may meet other tests' rows)."""
    wanted = {request.id for request in mine}
    return [request.id for request in requests if request.id in wanted]


async def approve(conn: asyncpg.Connection, request: AuthRequest, now: datetime) -> AuthRequest | None:
    return await lifecycle.decide(conn, request, approved=True, now=now, auth_time=now, acr="pwd",
                                  service="gateway")


async def test_expire_due_expires_only_due_pending_requests_and_records_history(pool, clock, make_request):
    due = await make_request()
    not_yet_due = await make_request(lifetime=600)
    approved = await make_request()
    ref_hash = Secrets(DEVELOPMENT_SECRET_KEY.encode()).hash(new_token())
    await device_refs.insert(pool, ref_hash, due.id, clock.now())
    async with pool.acquire() as conn:
        assert await approve(conn, approved, clock.now()) is not None
    clock.advance(LIFETIME + 1)

    async with pool.acquire() as conn:
        expired = await lifecycle.expire_due(conn, now=clock.now(), limit=1000, service=SERVICE)

    assert ours(expired, [due, not_yet_due, approved]) == [due.id]
    assert await status_of(pool, due) == "expired"
    assert await status_of(pool, not_yet_due) == "pending"
    assert await status_of(pool, approved) == "approved"
    assert (await auth_requests.get(pool, due.id)).decided_at == clock.now()
    assert await history_after_pending(pool, due) == [
        {"status": "expired", "at": clock.now(), "service": SERVICE, "detail": None}]
    assert await events_after_created(pool, due) == ["auth_request.expired"]
    assert await events_after_created(pool, not_yet_due) == []
    assert (await device_refs.get_with_request(pool, [ref_hash]))[0].used_at == clock.now()


async def test_expire_due_at_exactly_the_deadline_expires(pool, clock, make_request):
    request = await make_request()
    clock.advance(LIFETIME)

    async with pool.acquire() as conn:
        expired = await lifecycle.expire_due(conn, now=clock.now(), limit=1000, service=SERVICE)

    assert ours(expired, [request]) == [request.id]


async def test_expire_due_twice_expires_once(pool, clock, make_request):
    request = await make_request()
    clock.advance(LIFETIME + 1)

    async with pool.acquire() as conn:
        first = await lifecycle.expire_due(conn, now=clock.now(), limit=1000, service=SERVICE)
        second = await lifecycle.expire_due(conn, now=clock.now(), limit=1000, service=SERVICE)

    assert ours(first, [request]) == [request.id]
    assert ours(second, [request]) == []
    assert len(await history_after_pending(pool, request)) == 1


async def test_concurrent_expire_due_calls_expire_each_request_exactly_once(pool, clock, make_request):
    requests = [await make_request() for _ in range(20)]
    clock.advance(LIFETIME + 1)

    async def sweep(conn: asyncpg.Connection) -> list[AuthRequest]:
        swept: list[AuthRequest] = []
        while chunk := await lifecycle.expire_due(conn, now=clock.now(), limit=3, service=SERVICE):
            swept += chunk
        return swept

    async with pool.acquire() as first, pool.acquire() as second:
        one, other = await asyncio.wait_for(asyncio.gather(sweep(first), sweep(second)), 20)

    mine_one, mine_other = ours(one, requests), ours(other, requests)
    assert not set(mine_one) & set(mine_other)
    assert sorted(mine_one + mine_other) == sorted(request.id for request in requests)
    for request in requests:
        assert [row["status"] for row in await history_after_pending(pool, request)] == ["expired"]
        assert await events_after_created(pool, request) == ["auth_request.expired"]


async def assert_resolved_once(pool: asyncpg.Pool, request: AuthRequest) -> str:
    final = await status_of(pool, request)
    assert final in ("approved", "expired")
    assert [row["status"] for row in await history_after_pending(pool, request)] == [final]
    expected_event = "auth_request.decided" if final == "approved" else "auth_request.expired"
    assert await events_after_created(pool, request) == [expected_event]
    return final


async def test_approval_racing_expiry_resolves_exactly_once(pool, clock, make_request):
    for _ in range(6):
        request = await make_request()
        clock.advance(LIFETIME - 1)
        decided_at = clock.now()  # still before the deadline
        clock.advance(2)
        expired_at = clock.now()  # past it

        async with pool.acquire() as first, pool.acquire() as second:
            decided, expired = await asyncio.wait_for(asyncio.gather(
                approve(first, request, decided_at),
                lifecycle.expire_due(second, now=expired_at, limit=1000, service=SERVICE),
            ), 10)

        final = await assert_resolved_once(pool, request)
        assert (decided is not None) == (final == "approved")
        assert (ours(expired, [request]) == [request.id]) == (final == "expired")


async def test_expiry_skips_a_request_whose_approval_holds_the_row(pool, clock, make_request):
    request = await make_request()
    clock.advance(LIFETIME - 1)
    decided_at = clock.now()
    clock.advance(2)

    async with pool.acquire() as deciding, pool.acquire() as sweeping:
        async with deciding.transaction():
            assert await approve(deciding, request, decided_at) is not None  # row locked, not committed
            expired = await asyncio.wait_for(
                lifecycle.expire_due(sweeping, now=clock.now(), limit=1000, service=SERVICE), 5)
            assert ours(expired, [request]) == []

    assert await assert_resolved_once(pool, request) == "approved"


async def test_approval_waiting_on_an_expiry_in_progress_returns_none(pool, clock, make_request):
    request = await make_request()
    clock.advance(LIFETIME - 1)
    decided_at = clock.now()
    clock.advance(2)

    async with pool.acquire() as deciding, pool.acquire() as sweeping:
        async with sweeping.transaction():
            expired = await lifecycle.expire_due(sweeping, now=clock.now(), limit=1000, service=SERVICE)
            assert ours(expired, [request]) == [request.id]
            approval = asyncio.ensure_future(approve(deciding, request, decided_at))
            await asyncio.wait_for(_blocked_on_a_lock(pool, deciding.get_server_pid()), 5)
        assert await asyncio.wait_for(approval, 5) is None

    assert await assert_resolved_once(pool, request) == "expired"


async def test_decide_after_expiry_returns_none(pool, clock, make_request):
    request = await make_request()
    clock.advance(LIFETIME + 1)
    async with pool.acquire() as conn:
        await lifecycle.expire_due(conn, now=clock.now(), limit=1000, service=SERVICE)

        assert await approve(conn, request, clock.now()) is None
        assert await lifecycle.decide(conn, request, approved=False, now=clock.now(), auth_time=None,
                                      acr=None, service="gateway") is None

    assert await assert_resolved_once(pool, request) == "expired"


async def test_decide_past_the_deadline_before_the_sweep_returns_none(pool, clock, make_request):
    request = await make_request()
    clock.advance(LIFETIME)

    async with pool.acquire() as conn:
        assert await approve(conn, request, clock.now()) is None

    assert await status_of(pool, request) == "pending"  # left for the sweep
    assert await history_after_pending(pool, request) == []
    assert await events_after_created(pool, request) == []


async def test_second_decision_returns_none(pool, clock, make_request):
    request = await make_request()

    async with pool.acquire() as conn:
        assert (await approve(conn, request, clock.now())).status == "approved"
        assert await lifecycle.decide(conn, request, approved=False, now=clock.now(), auth_time=None,
                                      acr=None, service="gateway") is None

    assert await assert_resolved_once(pool, request) == "approved"


async def test_sweep_once_honours_the_chunk_size(runtime, pool, clock, make_request, monkeypatch):
    requests = [await make_request() for _ in range(5)]
    clock.advance(LIFETIME + 1)
    chunks: list[tuple[int, int]] = []
    real_expire_due = lifecycle.expire_due

    async def spy(conn, *, now, limit, service):
        expired = await real_expire_due(conn, now=now, limit=limit, service=service)
        chunks.append((limit, len(expired)))
        return expired

    monkeypatch.setattr(lifecycle, "expire_due", spy)
    previous = (await config_repo.load_stored(runtime.pool)).get(CHUNK_SIZE)
    try:
        async with runtime.pool.acquire() as conn:
            await config_repo.upsert(conn, CHUNK_SIZE, 2)
        await runtime.live_config.load()
        assert runtime.config.backchannelRequestsProcessorJobChunkSize == 2

        total = await expiry_sweep.sweep_once(runtime)
    finally:
        async with runtime.pool.acquire() as conn:
            if previous is None:
                await config_repo.delete(conn, CHUNK_SIZE)
            else:
                await config_repo.upsert(conn, CHUNK_SIZE, previous)
        await runtime.live_config.load()

    assert {limit for limit, _ in chunks} == {2}
    assert all(size <= 2 for _, size in chunks)
    assert [size for _, size in chunks[:-1]] == [2] * (len(chunks) - 1)  # full chunks repeat...
    assert chunks[-1][1] < 2  # ...until one comes back short
    assert len(chunks) >= 3
    assert total == sum(size for _, size in chunks)
    for request in requests:
        assert await status_of(pool, request) == "expired"
        assert (await history_after_pending(pool, request))[0]["service"] == runtime.service
    assert runtime.config.backchannelRequestsProcessorJobChunkSize == (previous or 500)


async def _blocked_on_a_lock(pool: asyncpg.Pool, pid: int) -> None:
    while True:
        if await pool.fetchval("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid) == "Lock":
            return
        await asyncio.sleep(0.01)


async def test_recording_sent_notifications_tells_messages_of_one_request_apart(pool, clock, make_request):
    """A re-announcement and the original event of one request in one batch: only the message
    not yet processed is recorded (the answer was once keyed by request, so both said yes)."""
    from services.notifier import queries

    request = await make_request()
    already, fresh = uuid.uuid4(), uuid.uuid4()
    await pool.execute("INSERT INTO processed_events (consumer, message_id) VALUES ('notifier', $1)", already)
    sent = [queries.Sent(m, request.id, 1, "webhook", "ok", clock.now()) for m in (already, fresh, fresh)]

    assert await queries.record_sent(pool, sent, consumer="notifier") == [False, True, False]
    assert await pool.fetchval("SELECT count(*) FROM notification_attempts WHERE auth_request_id = $1",
                               request.id) == 1
