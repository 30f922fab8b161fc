"""The CIBA grant at /token (services/gateway/grants/ciba.py) through its ports, with in-memory
fakes: what a poll is answered, in which order, and how a long poll is held and released. No
Postgres, no HTTP; tests/integration/test_token_endpoint.py and test_long_poll_limit.py prove the
same through the running gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.gateway.forms import Form
from services.gateway.grants import ciba
from services.gateway.long_poll import Applied
from shared.clock import FrozenClock
from shared.config.model import ServerConfig
from shared.domain.auth_request import AuthRequest, DeliveryMode, Status
from shared.domain.slow_down import SLOW_DOWN_STEP_SEC
from shared.domain.token_issuance import Binding, TokenSet
from shared.errors import ProtocolError
from shared.repositories.auth_requests import Poll
from shared.repositories.clients import CIBA_GRANT, Client

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CONFIG = ServerConfig()
AUTH_REQ_ID = "auth-req-1"
INTERVAL = 5


def client(client_id: str = "c1", mode: str = "poll") -> Client:
    return Client(client_id=client_id, client_secret_hash=None, client_name="Shop",
                  token_endpoint_auth_method="private_key_jwt", grant_types=[CIBA_GRANT], scope=["openid"],
                  backchannel_token_delivery_mode=mode, backchannel_client_notification_endpoint=None,
                  backchannel_authentication_request_signing_alg=None, backchannel_user_code_parameter=False,
                  id_token_signed_response_alg="PS256", metadata={}, created_at=NOW)


def auth_request(status: Status = Status.PENDING, *, expires_in: float = 300,
                 failure_reason: str | None = None) -> AuthRequest:
    return AuthRequest(id=uuid4(), auth_req_id_hash=b"", auth_req_id_enc="", client_id="c1", sub="alice",
                       delivery_mode=DeliveryMode.POLL, scope=["openid"], acr_values=None, binding_message=None,
                       client_notification_token_enc=None, status=status, interval_sec=INTERVAL,
                       created_at=NOW - timedelta(seconds=60), expires_at=NOW + timedelta(seconds=expires_in),
                       decided_at=None, auth_time=None, acr=None, failure_reason=failure_reason,
                       tokens_issued_at=None)


class FakeRequests:
    """ciba.CibaRequests in memory: the stamp of the last poll and slow_down's growing interval
    as shared.repositories.auth_requests.record_poll keeps them, and a one-time exchange."""

    def __init__(self, request: AuthRequest) -> None:
        self.request = request
        self.marks: dict[UUID, tuple[datetime, int]] = {}
        self.decide_after_poll: Status | None = None  # a decision landing just after the stamp

    def decide(self, status: Status) -> None:
        self.request = replace(self.request, status=status)

    async def record_poll(self, auth_req_id: str, client_id: str, now: datetime) -> Poll | None:
        if auth_req_id != AUTH_REQ_ID or client_id != self.request.client_id:
            return None
        last_at, held = self.marks.get(self.request.id, (None, self.request.interval_sec or 0))
        too_fast = last_at is not None and now < last_at + timedelta(seconds=held)
        held += SLOW_DOWN_STEP_SEC if too_fast else 0
        self.marks[self.request.id] = (now, held)
        polled = self.request
        if self.decide_after_poll is not None:
            self.decide(self.decide_after_poll)
        return Poll(polled, too_fast and polled.status is Status.PENDING, held)

    async def get(self, request_id: UUID) -> AuthRequest | None:
        return self.request if request_id == self.request.id else None

    async def issue_tokens(self, request: AuthRequest, client: Client, *, config: ServerConfig, now: datetime,
                           binding: Binding) -> TokenSet | None:
        if self.request.status is not Status.APPROVED:
            return None
        self.decide(Status.TOKENS_ISSUED)
        return TokenSet("access", config.accessTokenLifetime, "id", None, request.scope, binding.token_type)


class FakeChanges:
    """ciba.RequestChanges: the test signals a request's change the way its NOTIFY would."""

    def __init__(self, *, full: bool = False) -> None:
        self.full = full
        self.waiting: dict[str, asyncio.Future[None]] = {}

    @contextmanager
    def subscription(self, request_id: str) -> Iterator[asyncio.Future[None]]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        try:
            yield future
        finally:
            del self.waiting[request_id]

    def signal(self, request_id: str) -> None:
        self.waiting[request_id].set_result(None)


async def exchange(requests: FakeRequests, *, clock: FrozenClock | None = None, changes: FakeChanges | None = None,
                   the_client: Client | None = None, auth_req_id: str = AUTH_REQ_ID, wait: int | None = None,
                   applied: Applied | None = None, config: ServerConfig = CONFIG) -> object:
    """The token response's access_token, or the error code the poll is answered with."""
    form = Form({"auth_req_id": auth_req_id} if auth_req_id else {})
    try:
        body = await ciba.exchange(the_client or client(), form, requests=requests, changes=changes or FakeChanges(),
                                   config=config, clock=clock or FrozenClock(NOW), wait=wait, applied=applied)
    except ProtocolError as error:
        return error.error
    return body["access_token"]


@pytest.mark.parametrize(("situation", "request_", "the_client", "auth_req_id", "expected"), [
    ("unknown auth_req_id", auth_request(), client(), "no-such-id", "invalid_grant"),
    ("another client's auth_req_id", auth_request(), client("c2"), AUTH_REQ_ID, "invalid_grant"),
    ("no auth_req_id", auth_request(), client(), "", "invalid_request"),
    ("a push client", auth_request(), client(mode="push"), AUTH_REQ_ID, "unauthorized_client"),
    ("pending", auth_request(), client(), AUTH_REQ_ID, "authorization_pending"),
    ("pending past its expiry, before the sweep", auth_request(expires_in=-1), client(), AUTH_REQ_ID,
     "expired_token"),
    ("expired", auth_request(Status.EXPIRED), client(), AUTH_REQ_ID, "expired_token"),
    ("denied", auth_request(Status.DENIED), client(), AUTH_REQ_ID, "access_denied"),
    ("failed", auth_request(Status.FAILED, failure_reason="plugin down"), client(), AUTH_REQ_ID,
     "transaction_failed"),
    ("approved", auth_request(Status.APPROVED), client(), AUTH_REQ_ID, "access"),
    ("approved, within the grant's extra time", auth_request(Status.APPROVED, expires_in=-60), client(),
     AUTH_REQ_ID, "access"),
    ("approved, past the grant's extra time",
     auth_request(Status.APPROVED, expires_in=-CONFIG.cibaGrantLifeExtraTimeSec - 1), client(), AUTH_REQ_ID,
     "expired_token"),
    ("tokens already issued", auth_request(Status.TOKENS_ISSUED), client(), AUTH_REQ_ID, "invalid_grant"),
])
async def test_a_poll_is_answered_by_the_state_of_its_request(situation: str, request_: AuthRequest,
                                                              the_client: Client, auth_req_id: str,
                                                              expected: str) -> None:
    assert await exchange(FakeRequests(request_), the_client=the_client, auth_req_id=auth_req_id) == expected


@pytest.mark.parametrize(("polls_after", "expected"), [
    # seconds after the first poll -> the answer (the interval is 5 s, then 10 s after a slow_down)
    ([INTERVAL], ["authorization_pending"]),
    ([1], ["slow_down"]),
    ([1, 3], ["slow_down", "slow_down"]),
    ([1, 1 + INTERVAL + SLOW_DOWN_STEP_SEC], ["slow_down", "authorization_pending"]),
])
async def test_polling_sooner_than_the_interval_slows_down(polls_after: list[int], expected: list[str]) -> None:
    requests, clock = FakeRequests(auth_request()), FrozenClock(NOW)
    assert await exchange(requests, clock=clock) == "authorization_pending"
    answers, elapsed = [], 0
    for after in polls_after:
        clock.advance(after - elapsed)
        elapsed = after
        answers.append(await exchange(requests, clock=clock))
    assert answers == expected


async def test_tokens_are_issued_once() -> None:
    requests = FakeRequests(auth_request(Status.APPROVED))
    assert await exchange(requests) == "access"
    assert await exchange(requests) == "invalid_grant"


async def test_an_exchange_that_loses_the_race_for_the_tokens_is_invalid_grant() -> None:
    requests = FakeRequests(auth_request(Status.APPROVED))
    requests.decide_after_poll = Status.TOKENS_ISSUED  # another exchange got there first
    assert await exchange(requests) == "invalid_grant"


async def until_held(changes: FakeChanges, request_id: UUID) -> None:
    for _ in range(1000):
        if str(request_id) in changes.waiting:
            return
        await asyncio.sleep(0)
    raise AssertionError("the poll was not held")


@pytest.mark.parametrize(("decision", "expected"), [
    (Status.APPROVED, "access"),
    (Status.DENIED, "access_denied"),
])
async def test_a_held_poll_is_answered_as_soon_as_its_request_changes(decision: Status, expected: str) -> None:
    requests, changes, applied = FakeRequests(auth_request()), FakeChanges(), Applied()
    held = asyncio.ensure_future(exchange(requests, changes=changes, wait=20, applied=applied))
    await until_held(changes, requests.request.id)
    assert not held.done()
    requests.decide(decision)
    changes.signal(str(requests.request.id))
    assert await asyncio.wait_for(held, 1) == expected
    assert applied.header() == {"Preference-Applied": "wait=20"}


@pytest.mark.parametrize(("wait", "max_wait", "applied_wait"), [
    (20, 30, 20),
    (100, 30, 30),  # cibaLongPollingMaxWaitSec caps it
])
async def test_the_wait_applied_is_reported(wait: int, max_wait: int, applied_wait: int) -> None:
    requests, changes, applied = FakeRequests(auth_request()), FakeChanges(), Applied()
    config = CONFIG.model_copy(update={"cibaLongPollingMaxWaitSec": max_wait})
    held = asyncio.ensure_future(exchange(requests, changes=changes, wait=wait, applied=applied, config=config))
    await until_held(changes, requests.request.id)
    assert applied.header() == {"Preference-Applied": f"wait={applied_wait}"}
    changes.signal(str(requests.request.id))  # changed, yet still pending: an ordinary answer
    assert await asyncio.wait_for(held, 1) == "authorization_pending"


async def test_a_held_poll_ends_with_its_request_life() -> None:
    requests, applied = FakeRequests(auth_request(expires_in=0.05)), Applied()
    assert await asyncio.wait_for(exchange(requests, wait=20, applied=applied), 1) == "authorization_pending"
    assert applied.header() == {"Preference-Applied": "wait=20"}


async def test_a_decision_landing_before_the_hold_is_answered_at_once() -> None:
    requests, applied = FakeRequests(auth_request()), Applied()
    requests.decide_after_poll = Status.APPROVED
    assert await asyncio.wait_for(exchange(requests, wait=20, applied=applied), 1) == "access"


@pytest.mark.parametrize(("situation", "request_", "changes", "wait", "polled_before", "expected"), [
    ("without Prefer: wait", auth_request(), FakeChanges(), None, False, "authorization_pending"),
    ("with wait=0", auth_request(), FakeChanges(), 0, False, "authorization_pending"),
    ("when the process holds its limit", auth_request(), FakeChanges(full=True), 20, False,
     "authorization_pending"),
    ("when polled too soon", auth_request(), FakeChanges(), 20, True, "slow_down"),
    ("when already decided", auth_request(Status.DENIED), FakeChanges(), 20, False, "access_denied"),
    ("when past its expiry", auth_request(expires_in=-1), FakeChanges(), 20, False, "expired_token"),
])
async def test_a_poll_that_is_not_held_is_answered_at_once_without_preference_applied(
        situation: str, request_: AuthRequest, changes: FakeChanges, wait: int | None, polled_before: bool,
        expected: str) -> None:
    requests, applied = FakeRequests(request_), Applied()
    if polled_before:
        await exchange(requests)
    assert await asyncio.wait_for(exchange(requests, changes=changes, wait=wait, applied=applied), 1) == expected
    assert applied.header() == {}
