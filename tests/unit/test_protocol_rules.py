"""The protocol's rules as tables, in milliseconds: no Postgres, no RabbitMQ, no HTTP.

Each `/bc-authorize` check step without a port (services/gateway/endpoints/bc_authorize.py;
those with one are in test_bc_authorize_steps.py), hint choice (services/gateway/hints.py),
the CIBA grant's order of answers at /token (services/gateway/grants/ciba.py) and the
FAPI-CIBA rules (shared/domain/fapi_ciba.py). The integration and e2e tiers prove the same
rules through the running services.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.gateway.endpoints import bc_authorize
from services.gateway.forms import Form
from services.gateway.grants.ciba import check_exchangeable
from services.gateway.hints import choose_hint
from services.gateway.rate_limit import RateLimiter
from shared.config.model import ServerConfig
from shared.domain import fapi_ciba
from shared.domain.auth_request import AuthRequest
from shared.errors import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    InvalidAuthorizationDetails,
    InvalidBindingMessage,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    ProtocolError,
    SlowDown,
    TransactionFailed,
    UnauthorizedClient,
)
from shared.repositories.clients import CIBA_GRANT, Client

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CONFIG = ServerConfig()


def client(**fields: object) -> Client:
    base = Client(client_id="c1", client_secret_hash=None, client_name="Shop",
                  token_endpoint_auth_method="private_key_jwt", grant_types=[CIBA_GRANT],
                  scope=["openid", "email"], backchannel_token_delivery_mode="poll",
                  backchannel_client_notification_endpoint=None, backchannel_authentication_request_signing_alg=None,
                  backchannel_user_code_parameter=False, id_token_signed_response_alg="PS256", metadata={},
                  created_at=NOW)
    return replace(base, **fields)  # type: ignore[arg-type]


def outcome(call, *args, **kwargs) -> object:
    """What a step answers: its value, or the spec error code it raises."""
    try:
        return call(*args, **kwargs)
    except ProtocolError as error:
        return error.error


# /bc-authorize, step by step


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, "poll"),
    ({"backchannel_token_delivery_mode": "ping"}, "ping"),
    ({"grant_types": ["refresh_token"]}, UnauthorizedClient.error),
    ({"backchannel_token_delivery_mode": None}, UnauthorizedClient.error),
])
def test_the_client_may_use_ciba(fields, expected) -> None:
    assert outcome(bc_authorize.check_client_may_use_ciba, client(**fields), CONFIG) == expected


def test_a_delivery_mode_the_server_turned_off_is_unauthorized_client() -> None:
    config = ServerConfig(backchannelTokenDeliveryModesSupported=["poll"])
    assert outcome(bc_authorize.check_client_may_use_ciba, client(backchannel_token_delivery_mode="ping"),
                   config) == UnauthorizedClient.error


@pytest.mark.parametrize(("scope", "expected"), [
    ("openid", ["openid"]),
    ("openid email openid", ["openid", "email"]),  # once each, in order
    ("email", InvalidScope.error),  # no openid
    (None, InvalidScope.error),
    ("openid phone", InvalidScope.error),  # not registered by the client
])
def test_scope(scope, expected) -> None:
    params = Form({"scope": scope} if scope is not None else {})
    assert outcome(bc_authorize.check_scope, params, client()) == expected


@pytest.mark.parametrize(("message", "expected"), [
    (None, None),
    ("Pay 42 EUR #A7", "Pay 42 EUR #A7"),
    ("x" * 65, InvalidBindingMessage.error),  # the pattern's 64
    ("x" * 129, InvalidBindingMessage.error),  # the length limit, checked first
    ("<script>", InvalidBindingMessage.error),
])
def test_binding_message(message, expected) -> None:
    params = Form({"binding_message": message} if message is not None else {})
    assert outcome(bc_authorize.check_binding_message, params, CONFIG) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    (None, 600),  # backchannelAuthenticationResponseExpiresIn
    ("120", 120),
    ("1800", 1800),
    ("1801", InvalidRequest.error),  # above cibaMaxExpirationTimeAllowedSec
    ("0", InvalidRequest.error),
    ("-5", InvalidRequest.error),
    ("1.5", InvalidRequest.error),
    ("12abc", InvalidRequest.error),
])
def test_requested_expiry(raw, expected) -> None:
    params = Form({"requested_expiry": raw} if raw is not None else {})
    assert outcome(bc_authorize.check_requested_expiry, params, CONFIG) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    (None, None),
    ("mfa", ["mfa"]),
    ("urn:unknown mfa", ["urn:unknown", "mfa"]),  # one supported value is enough
    ("urn:unknown", InvalidRequest.error),
])
def test_acr_values(raw, expected) -> None:
    params = Form({"acr_values": raw} if raw is not None else {})
    assert outcome(bc_authorize.check_acr_values, params) == expected


@pytest.mark.parametrize(("mode", "token", "expected"), [
    ("poll", None, None),
    ("poll", "t", None),  # a poll client's token is ignored
    ("ping", "t", "t"),
    ("push", None, InvalidRequest.error),
    ("ping", "t" * 1025, InvalidRequest.error),
])
def test_client_notification_token(mode, token, expected) -> None:
    params = Form({"client_notification_token": token} if token is not None else {})
    assert outcome(bc_authorize.check_client_notification_token, params, mode) == expected


def test_the_per_client_rate_limit_answers_429_slow_down_with_retry_after() -> None:
    limiter = RateLimiter(clock=lambda: 100.0)  # time stands still: no token comes back
    config = ServerConfig(backchannelRateLimitPerClient=2)
    answers = [outcome(bc_authorize.check_rate_limit, limiter, client(), config) for _ in range(3)]
    assert answers == [None, None, SlowDown.error]
    with pytest.raises(SlowDown) as refused:
        bc_authorize.check_rate_limit(limiter, client(), config)
    assert (refused.value.status, refused.value.headers()) == (429, {"Retry-After": "1"})
    assert outcome(bc_authorize.check_rate_limit, limiter, client(client_id="c2"), config) is None  # its own bucket
    assert all(outcome(bc_authorize.check_rate_limit, limiter, client(), CONFIG) is None for _ in range(20))  # off


PAYMENT = {"type": "payment_initiation", "instructedAmount": {"currency": "EUR", "amount": "123.50"}}
PAYER = {"authorization_details_types": ["payment_initiation"]}


@pytest.mark.parametrize(("raw", "metadata", "config", "expected"), [
    (None, {}, CONFIG, None),
    (json.dumps([PAYMENT]), PAYER, CONFIG, [PAYMENT]),
    (json.dumps([PAYMENT]), {}, CONFIG, InvalidAuthorizationDetails.error),  # the client did not register the type
    (json.dumps([PAYMENT]), PAYER, ServerConfig(authorizationDetailsTypesSupported=[]),
     InvalidAuthorizationDetails.error),  # nor does the server support it
    (json.dumps([{"type": "payment_initiation"}]), PAYER, CONFIG, InvalidAuthorizationDetails.error),  # how much?
    (json.dumps(PAYMENT), PAYER, CONFIG, InvalidAuthorizationDetails.error),  # an object, not an array
    ("[{", PAYER, CONFIG, InvalidAuthorizationDetails.error),
])
def test_authorization_details(raw, metadata, config, expected) -> None:
    params = Form({"authorization_details": raw} if raw is not None else {})
    assert outcome(bc_authorize.check_authorization_details, params, client(metadata=metadata), config) == expected


@pytest.mark.parametrize(("params", "expected"), [
    ({"login_hint": "alice"}, ("login_hint", "alice")),
    ({"id_token_hint": "eyJ"}, ("id_token_hint", "eyJ")),
    ({}, InvalidRequest.error),
    ({"login_hint": "alice", "login_hint_token": "eyJ"}, InvalidRequest.error),  # exactly one
])
def test_exactly_one_hint(params, expected) -> None:
    assert outcome(choose_hint, Form(params)) == expected


# /token, the CIBA grant: the order of answers (CIBA Core 11)


def request(status: str, *, expires_in: float = 300, failure_reason: str | None = None) -> AuthRequest:
    return AuthRequest(id=uuid4(), auth_req_id_hash=b"", auth_req_id_enc="", client_id="c1", sub="alice",
                       delivery_mode="poll", scope=["openid"], acr_values=None, binding_message=None,
                       client_notification_token_enc=None, status=status, interval_sec=5,
                       created_at=NOW - timedelta(seconds=60), expires_at=NOW + timedelta(seconds=expires_in),
                       decided_at=None, auth_time=None, acr=None, failure_reason=failure_reason,
                       tokens_issued_at=None)


@pytest.mark.parametrize(("status", "expires_in", "too_fast", "expected"), [
    ("pending", 300, False, AuthorizationPending.error),
    ("pending", 300, True, SlowDown.error),
    ("pending", 0, True, ExpiredToken.error),  # expiry before slow_down
    ("expired", 300, False, ExpiredToken.error),
    ("denied", 300, True, AccessDenied.error),  # a decided request answers whatever the pace
    ("failed", 300, False, TransactionFailed.error),
    ("tokens_issued", 300, False, InvalidGrant.error),
    ("approved", 300, False, None),  # tokens may be issued
    ("approved", -179, False, None),  # within cibaGrantLifeExtraTimeSec (180 s) after expiry
    ("approved", -181, False, ExpiredToken.error),
])
def test_the_ciba_grant_answers_in_order(status, expires_in, too_fast, expected) -> None:
    assert outcome(check_exchangeable, request(status, expires_in=expires_in), NOW, too_fast=too_fast, interval=5,
                   grant_extra_sec=CONFIG.cibaGrantLifeExtraTimeSec) == expected


def test_a_failed_request_tells_the_client_why_without_internals() -> None:
    with pytest.raises(TransactionFailed) as failed:
        check_exchangeable(request("failed", failure_reason="cancelled: fraud suspected"), NOW, too_fast=False,
                           interval=5, grant_extra_sec=180)
    assert failed.value.description


# FAPI-CIBA


FAPI = ServerConfig(fapiCibaProfile=True)


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, None),
    ({"token_endpoint_auth_method": "tls_client_auth"}, None),
    ({"token_endpoint_auth_method": "client_secret_basic"}, UnauthorizedClient.error),
    ({"backchannel_token_delivery_mode": "push"}, UnauthorizedClient.error),
    ({"id_token_signed_response_alg": "RS256"}, UnauthorizedClient.error),
    ({"backchannel_authentication_request_signing_alg": "RS256"}, UnauthorizedClient.error),
])
def test_fapi_ciba_refuses_a_client_registered_before_the_switch(fields, expected) -> None:
    assert outcome(fapi_ciba.check_client, FAPI, client(**fields)) == expected
    assert outcome(fapi_ciba.check_client, CONFIG, client(**fields)) is None  # the profile is off


@pytest.mark.parametrize(("signed", "binding_message", "expected"), [
    (True, "Pay 42 EUR", None),
    (False, "Pay 42 EUR", InvalidRequest.error),
    (True, None, InvalidRequest.error),
])
def test_fapi_ciba_authentication_request(signed, binding_message, expected) -> None:
    assert outcome(fapi_ciba.check_authentication_request, FAPI, client(), signed=signed,
                   binding_message=binding_message) == expected


def test_fapi_ciba_applies_to_one_client_by_its_metadata_and_narrows_algorithms() -> None:
    alone = client(metadata={"fapi_ciba": True})
    assert fapi_ciba.applies(CONFIG, alone) and not fapi_ciba.applies(CONFIG, client())
    assert fapi_ciba.algorithms(["RS256", "PS256", "ES256"], CONFIG, alone) == ["PS256", "ES256"]
    assert outcome(fapi_ciba.check_sender_constrained, CONFIG, alone, None) == InvalidRequest.error
    assert outcome(fapi_ciba.check_sender_constrained, CONFIG, alone, {"jkt": "k"}) is None
