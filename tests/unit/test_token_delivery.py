"""token-delivery without Postgres or a relying party: what the callback carries for each
outcome (CIBA Core 10.2, 10.3), and what each answer of the client's endpoint leads to
(delivered, retried, given up), through fakes of DeliverToClient's ports."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid4

import asyncpg
import pytest
from cryptography.fernet import Fernet

from services.token_delivery import payloads
from services.token_delivery.deliver import DeliverToClient
from services.token_delivery.queries import Callback
from shared.bus.consumer import AlreadyProcessed, Delivery, GiveUp, RetryLater
from shared.clock import FrozenClock
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.domain.auth_request import AuthRequest, DeliveryMode, Status
from shared.domain.lifecycle import CANCELLED_BY_OPERATOR, UNEXPLAINED_FAILURE
from shared.domain.token_issuance import TokenSet
from shared.events import AnyEvent, AuthRequestDecided, AuthRequestExpired, AuthRequestFailed
from shared.outbound import CallResult
from shared.repositories.clients import CIBA_GRANT, Client

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
SECRETS = Secrets(Fernet.generate_key())
AUTH_REQ_ID = "the-auth-req-id"
BEARER = "the-client-notification-token"
ENDPOINT = "https://rp.example.com/cb"
TOKENS = TokenSet(access_token="at", expires_in=3600, id_token="idt", refresh_token=None, scope=["openid"])


def auth_request(mode: DeliveryMode = DeliveryMode.PING, *, lifetime: float = 120,
                 push_payload: dict[str, Any] | None = None) -> AuthRequest:
    return AuthRequest(
        id=uuid4(), auth_req_id_hash=b"h", auth_req_id_enc=SECRETS.encrypt(AUTH_REQ_ID), client_id="c1", sub="alice",
        delivery_mode=mode, scope=["openid"], acr_values=None, binding_message=None,
        client_notification_token_enc=SECRETS.encrypt(BEARER), status=Status.APPROVED, interval_sec=None,
        created_at=NOW - timedelta(seconds=10), expires_at=NOW + timedelta(seconds=lifetime), decided_at=NOW,
        auth_time=NOW, acr=None, failure_reason=None, tokens_issued_at=None,
        push_payload_enc=SECRETS.encrypt(json.dumps(push_payload)) if push_payload is not None else None)


def client(mode: DeliveryMode, endpoint: str | None = ENDPOINT) -> Client:
    return Client(client_id="c1", client_secret_hash=None, client_name="Shop", token_endpoint_auth_method="none",
                  grant_types=[CIBA_GRANT], scope=["openid"], backchannel_token_delivery_mode=mode,
                  backchannel_client_notification_endpoint=endpoint,
                  backchannel_authentication_request_signing_alg=None, backchannel_user_code_parameter=False,
                  id_token_signed_response_alg="RS256", metadata={}, created_at=NOW - timedelta(days=1))


def decided(mode: str, decision: str = "approved") -> AuthRequestDecided:
    return AuthRequestDecided(request_id=uuid4(), delivery_mode=mode, decision=decision)


class FakePushTokens:
    def __init__(self, minted: TokenSet | None, kept: str | None = None) -> None:
        self.minted = minted
        self.kept = kept
        self.issued: list[str] = []

    async def issue(self, request: AuthRequest, client: Client, *, config: ServerConfig, now: datetime,
                    auth_req_id: str) -> TokenSet | None:
        self.issued.append(auth_req_id)
        return self.minted

    async def kept_payload(self, request_id: UUID) -> str | None:
        return self.kept


# --- What the callback carries ----------------------------------------------------------------------


def test_a_ping_carries_the_auth_req_id_only() -> None:
    assert payloads.ping(AUTH_REQ_ID) == {"auth_req_id": AUTH_REQ_ID}


@pytest.mark.parametrize(("event", "error", "description"), [
    (decided("push", "denied"), "access_denied", "the user denied the request"),
    (AuthRequestExpired(request_id=uuid4(), delivery_mode="push"), "expired_token",
     "the request expired before the user decided"),
    (AuthRequestFailed(request_id=uuid4(), delivery_mode="push", reason="smtp down"), "transaction_failed",
     UNEXPLAINED_FAILURE),
    (AuthRequestFailed(request_id=uuid4(), delivery_mode="push", reason=f"{CANCELLED_BY_OPERATOR}: fraud"),
     "transaction_failed", f"{CANCELLED_BY_OPERATOR}: fraud"),
])
def test_a_push_error_names_the_outcome(event: AnyEvent, error: str, description: str) -> None:
    assert payloads.push_error(event, AUTH_REQ_ID) == {
        "error": error, "error_description": description, "auth_req_id": AUTH_REQ_ID}


KEPT = {"access_token": "kept", "auth_req_id": AUTH_REQ_ID}
MINTED = {**TOKENS.as_response(), "auth_req_id": AUTH_REQ_ID}


@pytest.mark.parametrize(("kept_on_request", "minted", "kept_by_another", "expected", "mints"), [
    (KEPT, TOKENS, None, KEPT, False),  # a retried push: the same tokens, none minted
    (None, TOKENS, None, MINTED, True),  # the first push
    (None, None, KEPT, KEPT, True),  # another delivery minted them first: theirs
    (None, None, None, GiveUp, True),  # issued and no longer held (delivered, or fetched at /token)
])
async def test_push_tokens_are_minted_once(kept_on_request: dict[str, Any] | None, minted: TokenSet | None,
                                           kept_by_another: dict[str, Any] | None, expected: Any,
                                           mints: bool) -> None:
    tokens = FakePushTokens(minted, SECRETS.encrypt(json.dumps(kept_by_another)) if kept_by_another else None)
    request = auth_request(DeliveryMode.PUSH, push_payload=kept_on_request)
    push = payloads.push_tokens(tokens, SECRETS, request, client(DeliveryMode.PUSH), AUTH_REQ_ID,
                                config=ServerConfig(), now=NOW)
    if expected is GiveUp:
        with pytest.raises(GiveUp):
            await push
    else:
        assert await push == expected
    assert tokens.issued == ([AUTH_REQ_ID] if mints else [])


# --- What an answer leads to -------------------------------------------------------------------------


@dataclasses.dataclass
class FakeCallbacks:
    loaded: Callback | None
    recorded_first: bool = True
    delivered: list[tuple[int | None, str]] = dataclasses.field(default_factory=list)
    attempts: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    finished_unsent: list[UUID] = dataclasses.field(default_factory=list)

    async def load(self, message_id: UUID, request_id: UUID) -> Callback | None:
        return self.loaded

    async def not_sent(self, request_id: UUID) -> None:
        self.finished_unsent.append(request_id)

    async def record_delivered(self, message_id: UUID, request_id: UUID, *, attempt: int, mode: str,
                               status_code: int | None, detail: str, at: datetime) -> bool:
        self.delivered.append((status_code, detail))
        return self.recorded_first

    async def record_attempt(self, request_id: UUID, *, attempt: int, mode: str, outcome: str,
                             status_code: int | None, detail: str, at: datetime) -> None:
        self.attempts.append((outcome, detail))


class FakePost:
    def __init__(self, answer: CallResult) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any], str]] = []

    async def __call__(self, url: str, payload: dict[str, Any], *, bearer: str, timeout: float) -> CallResult:
        self.calls.append((url, payload, bearer))
        return self.answer


DELIVERED = CallResult("delivered", 204, "HTTP 204")
UNAVAILABLE = CallResult("retry", 503, "HTTP 503")
REFUSED = CallResult("final", 400, "HTTP 400")


async def handle(event: AnyEvent, answer: CallResult, *, lifetime: float = 120, endpoint: str | None = ENDPOINT,
                 config: ServerConfig | None = None, recorded_first: bool = True,
                 attempt: int = 1) -> tuple[FakeCallbacks, FakePost, Delivery, BaseException | None]:
    """Handle ``event`` for a request whose client answers ``answer``; what was recorded and
    posted, and what the handler raised."""
    mode = DeliveryMode(event.delivery_mode)
    callbacks = FakeCallbacks(Callback(auth_request(mode, lifetime=lifetime), client(mode, endpoint)),
                              recorded_first=recorded_first)
    post = FakePost(answer)
    handler = DeliverToClient(callbacks, FakePushTokens(TOKENS), post, secrets=SECRETS, clock=FrozenClock(NOW),
                              config=lambda: config or ServerConfig(), development=False)
    given = Delivery(cast(asyncpg.Pool, None), DeliverToClient.consumer, event, attempt, 6)
    try:
        await handler.handle(event, given)
    except (GiveUp, RetryLater, AlreadyProcessed) as exc:
        return callbacks, post, given, exc
    return callbacks, post, given, None


@pytest.mark.parametrize(("answer", "raised", "attempt_recorded"), [
    (DELIVERED, None, None),
    (UNAVAILABLE, RetryLater, "retry"),  # 408, 425, 429, 5xx and network failures
    (REFUSED, GiveUp, "final"),  # any other answer is the client's final word
])
async def test_the_clients_answer_decides_between_done_retry_and_give_up(
        answer: CallResult, raised: type[BaseException] | None, attempt_recorded: str | None) -> None:
    callbacks, post, given, exc = await handle(decided("ping"), answer)
    assert type(exc) is raised if raised else exc is None
    assert post.calls == [(ENDPOINT, {"auth_req_id": AUTH_REQ_ID}, BEARER)]
    assert callbacks.delivered == ([(204, "HTTP 204")] if answer is DELIVERED else [])
    assert given.recorded is (answer is DELIVERED)
    assert callbacks.attempts == ([(attempt_recorded, answer.detail)] if attempt_recorded else [])


@pytest.mark.parametrize(("event", "payload"), [
    (decided("ping"), {"auth_req_id": AUTH_REQ_ID}),
    (decided("push"), {**TOKENS.as_response(), "auth_req_id": AUTH_REQ_ID}),
    (decided("push", "denied"), {"error": "access_denied", "error_description": "the user denied the request",
                                 "auth_req_id": AUTH_REQ_ID}),
    (AuthRequestExpired(request_id=uuid4(), delivery_mode="ping"), {"auth_req_id": AUTH_REQ_ID}),
])
async def test_what_each_outcome_posts(event: AnyEvent, payload: dict[str, Any]) -> None:
    _callbacks, post, _given, exc = await handle(event, DELIVERED)
    assert exc is None
    assert [sent for _url, sent, _bearer in post.calls] == [payload]


async def test_a_poll_client_is_not_called() -> None:
    callbacks, post, given, exc = await handle(decided("poll"), DELIVERED)
    assert (exc, post.calls, callbacks.delivered, given.recorded) == (None, [], [], True)


async def test_no_ping_on_expiry_when_the_operator_turned_it_off() -> None:
    off = ServerConfig(backchannelPingOnExpiry=False)
    callbacks, post, _given, exc = await handle(AuthRequestExpired(request_id=uuid4(), delivery_mode="ping"),
                                                DELIVERED, config=off)
    assert (exc, post.calls) == (None, [])
    assert len(callbacks.finished_unsent) == 1


@pytest.mark.parametrize(("lifetime", "extra", "answer", "posted", "raised"), [
    (-200, 180, DELIVERED, False, GiveUp),  # past the request's lifetime and its grace: nothing sent
    (-100, 180, DELIVERED, True, None),  # within cibaGrantLifeExtraTimeSec
    (1, 0, UNAVAILABLE, True, GiveUp),  # the back-off (1 s or more) would fall after the lifetime
    (120, 0, UNAVAILABLE, True, RetryLater),
])
async def test_a_callback_is_never_retried_past_the_requests_lifetime(
        lifetime: float, extra: int, answer: CallResult, posted: bool, raised: type[BaseException] | None) -> None:
    config = ServerConfig(cibaGrantLifeExtraTimeSec=extra)
    _callbacks, post, _given, exc = await handle(decided("ping"), answer, lifetime=lifetime, config=config)
    assert bool(post.calls) is posted
    assert type(exc) is raised if raised else exc is None


async def test_an_endpoint_that_is_not_https_is_a_final_failure_without_a_call() -> None:
    callbacks, post, _given, exc = await handle(decided("ping"), DELIVERED, endpoint="http://rp.example.com/cb")
    assert isinstance(exc, GiveUp) and post.calls == []
    assert callbacks.attempts == [("final", "notification endpoint must use https (plain http is allowed only "
                                            "on loopback in development)")]


async def test_a_delivery_another_consumer_recorded_first_is_already_processed() -> None:
    _callbacks, _post, given, exc = await handle(decided("ping"), DELIVERED, recorded_first=False)
    assert isinstance(exc, AlreadyProcessed) and not given.recorded
