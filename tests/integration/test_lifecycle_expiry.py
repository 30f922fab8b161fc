"""The request's state machine against the real database: expiry by the sweep, of due pending
requests only, once however often and however concurrently it runs, in chunks of the configured
size (docs/architecture.md, "State and events"). Time is the FrozenClock's; nothing sleeps to
make a request expire."""

from __future__ import annotations

import asyncio

import asyncpg

from services.request_processor import expiry_sweep
from shared.crypto import Secrets, new_token
from shared.domain import lifecycle
from shared.domain.auth_request import AuthRequest
from shared.repositories import auth_requests, device_refs
from shared.repositories import config as config_repo
from shared.settings import DEVELOPMENT_SECRET_KEY
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

CHUNK_SIZE = "backchannelRequestsProcessorJobChunkSize"


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

        total = await expiry_sweep.sweep_once(runtime.pool, clock, service=runtime.service,
                                               chunk=runtime.config.backchannelRequestsProcessorJobChunkSize)
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
