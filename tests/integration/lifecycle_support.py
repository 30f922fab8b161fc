"""Shared by the request lifecycle tests (test_lifecycle_*.py): pending requests made through
lifecycle.create for fresh user and client rows (removed afterwards, the database being shared
with other modules), a request's status, history and outbox events read back, and an
approval."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import asyncpg
import pytest

from shared.clock import FrozenClock
from shared.crypto import Secrets, new_token
from shared.domain import lifecycle
from shared.domain.auth_request import AuthRequest
from shared.events import parse_event
from shared.repositories import auth_requests, clients, users
from shared.repositories.clients import CIBA_GRANT, Client
from shared.repositories.users import User
from shared.settings import DEVELOPMENT_SECRET_KEY

SERVICE = "request-processor"
LIFETIME = 10  # seconds a test request lives; the clock moves just past it

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
