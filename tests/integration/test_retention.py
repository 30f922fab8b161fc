"""Retention with an injected clock: finished requests leave an audit row and go, with their
history; spent tokens go; audit rows go after their own retention; what is pending, recent
or still valid stays; two request-processors share the work without deleting a row twice.

A database of its own: moving the clock months ahead would otherwise archive every other
test's requests.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from services.request_processor import retention as retention_job
from shared.clock import FrozenClock
from shared.domain.auth_request import AuthRequest
from shared.repositories import auth_requests, clients, retention, users
from shared.repositories.clients import CIBA_GRANT, Client
from shared.repositories.users import User
from shared.runtime import Runtime, open_runtime
from shared.settings import Settings
from tests.support.backing import Backing, fresh_backing

T0 = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def own_backing(server_urls) -> Iterator[Backing]:
    with fresh_backing(server_urls, "retention") as backing:
        yield backing


@pytest.fixture
async def rt(own_backing: Backing) -> AsyncIterator[Runtime]:
    settings = Settings(env="development", database_url=own_backing.database_url, amqp_url=own_backing.amqp_url,
                        bus_namespace=own_backing.namespace, migrate_on_start=False, log_format="console")
    async with open_runtime(settings, "request-processor", clock=FrozenClock(T0)) as runtime:
        yield runtime
        await runtime.pool.execute("TRUNCATE auth_requests, tokens, auth_request_audit, users, clients CASCADE")


async def _clean(rt: Runtime) -> dict[str, int]:
    return await retention_job.clean_once(rt.pool, rt.config, rt.clock.now())


async def _user_and_client(rt: Runtime) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    async with rt.pool.acquire() as conn:
        await users.insert(conn, User(sub=f"sub-{tag}", username=f"user-{tag}", email=None, phone_number=None,
                                      password_hash="unused"))
        await clients.insert(conn, Client(
            client_id=f"client-{tag}", client_secret_hash=None, client_name="Retention", scope=["openid"],
            token_endpoint_auth_method="client_secret_basic", grant_types=[CIBA_GRANT],
            backchannel_token_delivery_mode="poll", backchannel_client_notification_endpoint=None,
            backchannel_authentication_request_signing_alg=None, backchannel_user_code_parameter=False,
            id_token_signed_response_alg="RS256", metadata={}, created_at=T0 - 400 * DAY))
    return f"sub-{tag}", f"client-{tag}"


async def _request(rt: Runtime, sub: str, client_id: str, status: str, created: datetime) -> uuid.UUID:
    finished = None if status == "pending" else created + timedelta(minutes=1)
    request = AuthRequest(
        id=uuid.uuid4(), auth_req_id_hash=uuid.uuid4().bytes, auth_req_id_enc="unused", client_id=client_id, sub=sub,
        delivery_mode="poll", scope=["openid"], acr_values=None, binding_message=None,
        client_notification_token_enc=None, status=status, interval_sec=5, created_at=created,
        expires_at=created + timedelta(minutes=10), decided_at=finished, auth_time=finished, acr=None,
        failure_reason=None, tokens_issued_at=finished if status == "tokens_issued" else None)
    async with rt.pool.acquire() as conn:
        await auth_requests.insert(conn, request)
        await auth_requests.add_history(conn, request.id, status, created, "test")
    return request.id


async def _token(rt: Runtime, sub: str, client_id: str, issued: datetime, expires: datetime | None,
                 revoked: datetime | None = None) -> uuid.UUID:
    token_id = uuid.uuid4()
    await rt.pool.execute(
        """INSERT INTO tokens (id, kind, token_hash, grant_id, client_id, sub, scope, issued_at, expires_at, revoked_at)
           VALUES ($1, 'refresh', $2, $3, $4, $5, '{openid}', $6, $7, $8)""",
        token_id, token_id.bytes, uuid.uuid4(), client_id, sub, issued, expires, revoked)
    return token_id


async def _exists(rt: Runtime, table: str, row_id: uuid.UUID) -> bool:
    return bool(await rt.pool.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", row_id))  # noqa: S608


async def test_finished_requests_and_spent_tokens_go_after_retention_and_audit_after_its_own(rt) -> None:
    sub, client_id = await _user_and_client(rt)
    done = await _request(rt, sub, client_id, "tokens_issued", T0 - 40 * DAY)
    denied = await _request(rt, sub, client_id, "denied", T0 - 31 * DAY)
    recent = await _request(rt, sub, client_id, "tokens_issued", T0 - 5 * DAY)
    stuck = await _request(rt, sub, client_id, "pending", T0 - 40 * DAY)
    expired = await _token(rt, sub, client_id, T0 - 40 * DAY, T0 - 39 * DAY)
    revoked = await _token(rt, sub, client_id, T0 - 35 * DAY, None, revoked=T0 - 31 * DAY)
    live = await _token(rt, sub, client_id, T0 - 40 * DAY, None)
    fresh = await _token(rt, sub, client_id, T0 - 2 * DAY, T0 - DAY)
    before = REGISTRY.get_sample_value("ciba_retention_deleted_total", {"table": "auth_requests"}) or 0

    assert await _clean(rt) == {"auth_requests": 2, "tokens": 2, "auth_request_audit": 0}

    assert [await _exists(rt, "auth_requests", r) for r in (done, denied, recent, stuck)] == [False, False, True, True]
    assert await auth_requests.history(rt.pool, done) == []  # cascaded
    audit = await retention.audit_of(rt.pool, done)
    assert (audit["status"], audit["client_id"], audit["sub"], audit["created_at"], audit["archived_at"]) == (
        "tokens_issued", client_id, sub, T0 - 40 * DAY, T0)
    assert (await retention.audit_of(rt.pool, denied))["status"] == "denied"
    assert [await _exists(rt, "tokens", t) for t in (expired, revoked, live, fresh)] == [False, False, True, True]
    assert REGISTRY.get_sample_value("ciba_retention_deleted_total", {"table": "auth_requests"}) == before + 2

    # A year on: the recent request is archived in turn, and every audit row is past its year.
    rt.clock.advance((366 * DAY).total_seconds())
    assert await _clean(rt) == {"auth_requests": 1, "tokens": 1, "auth_request_audit": 3}
    assert await retention.audit_of(rt.pool, done) is None
    assert await _exists(rt, "auth_requests", stuck)  # never while pending
    assert await _exists(rt, "tokens", live)  # a refresh token that neither expires nor was revoked


async def test_two_request_processors_share_the_work_and_delete_each_row_once(rt) -> None:
    sub, client_id = await _user_and_client(rt)
    await rt.pool.execute(
        """INSERT INTO auth_requests (id, auth_req_id_hash, auth_req_id_enc, client_id, sub, delivery_mode, scope,
                                      status, interval_sec, created_at, expires_at, decided_at)
           SELECT gen_random_uuid(), uuid_send(gen_random_uuid()), 'unused', $1, $2, 'poll', '{openid}', 'expired', 5,
                  $3::timestamptz - i * interval '1 second', $3::timestamptz, $3::timestamptz
             FROM generate_series(1, 2500) i""",
        client_id, sub, T0 - 60 * DAY)

    first, second = await asyncio.gather(_clean(rt), _clean(rt))

    assert first["auth_requests"] + second["auth_requests"] == 2500
    assert await rt.pool.fetchval("SELECT count(*) FROM auth_request_audit") == 2500
    assert await rt.pool.fetchval("SELECT count(*) FROM auth_requests") == 0
