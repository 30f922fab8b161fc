"""The request's state machine against the real database: approval racing expiry resolving exactly
once, decisions that come too late or twice, and recording sent notifications telling the
messages of one request apart (docs/architecture.md, "State and events"). Time is the
FrozenClock's; nothing sleeps to make a request expire."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from shared.domain import lifecycle
from shared.domain.auth_request import AuthRequest
from tests.integration.lifecycle_support import (
    LIFETIME,
    SERVICE,
    approve,
    events_after_created,
    history_after_pending,
    ours,
    status_of,
)
from tests.integration.lifecycle_support import make_request as make_request  # pytest fixture


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
