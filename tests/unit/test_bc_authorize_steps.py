"""The /bc-authorize steps that need storage or keys, as tables over fakes of their ports
(services/gateway/endpoints/bc_authorize.py, services/gateway/request_object.py): the
user_code and its guess limit, storing under the per-user cap, and the signed request
object. Keys are real (joserfc); nothing touches Postgres, RabbitMQ or the network. The
steps without ports are in test_protocol_rules.py, the hints in test_hints.py."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from services.gateway import request_object
from services.gateway.endpoints import bc_authorize
from services.gateway.forms import Form
from services.gateway.password_checks import ChecksBusy
from shared.config.model import ServerConfig
from shared.domain import lifecycle
from shared.domain.auth_request import AuthRequest
from shared.errors import ProtocolError, SlowDown
from shared.repositories.clients import CIBA_GRANT, Client
from shared.repositories.users import User
from tests.support.jwt_client import ClientSigner, request_claims, unsigned

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ISSUER = "https://ciba.example"
CONFIG = ServerConfig()
CLIENT = Client(client_id="c1", client_secret_hash=None, client_name="Shop",
                token_endpoint_auth_method="private_key_jwt", grant_types=[CIBA_GRANT], scope=["openid", "email"],
                backchannel_token_delivery_mode="poll",
                backchannel_client_notification_endpoint=None, backchannel_authentication_request_signing_alg=None,
                backchannel_user_code_parameter=False, id_token_signed_response_alg="ES256", metadata={},
                created_at=NOW)
ALICE = User(sub="u-alice", username="alice", email="alice@example.org", phone_number=None, password_hash="x",
             user_code_hash="4711")


async def outcome(call: Awaitable[object]) -> object:
    """What a step answers: its value, or the spec error code it raises."""
    try:
        return await call
    except ProtocolError as error:
        return error.error


# user_code (CIBA Core 7.1)


@dataclass
class Attempts:
    """bc_authorize.UserCodeAttempts: five guesses per user, forgotten on success."""

    max_attempts: int = 5
    counted: dict[str, int] = field(default_factory=dict)

    async def allow(self, subject: str, now: datetime) -> bool:
        if self.counted.get(subject, 0) >= self.max_attempts:
            return False
        self.counted[subject] = self.counted.get(subject, 0) + 1
        return True

    async def succeeded(self, subject: str) -> None:
        self.counted.pop(subject, None)


@dataclass
class Checks:
    """bc_authorize.CodeChecks: the stored "hash" is the code itself."""

    busy: bool = False
    verified: list[str] = field(default_factory=list)

    def ensure_capacity(self) -> None:
        if self.busy:
            raise ChecksBusy(3)

    async def verify(self, stored_hash: str | None, secret: str) -> bool:
        self.verified.append(secret)
        return stored_hash is not None and stored_hash == secret


ASKS = ServerConfig(backchannelUserCodeParameterSupported=True)
REGISTERED = replace(CLIENT, backchannel_user_code_parameter=True)


@pytest.mark.parametrize(("config", "client", "user", "code", "used", "expected"), [
    (CONFIG, REGISTERED, ALICE, None, 0, None),  # the server does not support user_code
    (ASKS, CLIENT, ALICE, None, 0, None),  # the client did not register for it
    (ASKS, REGISTERED, ALICE, None, 0, "missing_user_code"),
    (ASKS, REGISTERED, ALICE, "0000", 0, "invalid_user_code"),
    (ASKS, REGISTERED, ALICE, "4711", 0, None),
    (ASKS, REGISTERED, ALICE, "4711", 4, None),  # the fifth guess may still be right
    (ASKS, REGISTERED, ALICE, "4711", 5, "invalid_user_code"),  # locked: even the right code
    (ASKS, REGISTERED, replace(ALICE, user_code_hash=None), "4711", 0, "invalid_user_code"),  # the user has none
    (ASKS, REGISTERED, ALICE, "4711" * 100, 0, "invalid_user_code"),  # too long to be one
])
async def test_user_code(config, client, user, code, used, expected) -> None:
    attempts = Attempts(counted={user.sub: used} if used else {})
    params = Form({"user_code": code} if code is not None else {})
    assert await outcome(bc_authorize.check_user_code(params, client, user, config=config, now=NOW,
                                                      attempts=attempts, checks=Checks())) == expected


async def test_a_right_user_code_forgets_the_wrong_guesses_and_a_wrong_one_counts() -> None:
    attempts, checks = Attempts(), Checks()
    for code in ("1", "2", "4711"):
        params = Form({"user_code": code})
        await outcome(bc_authorize.check_user_code(params, REGISTERED, ALICE, config=ASKS, now=NOW,
                                                   attempts=attempts, checks=checks))
        if code != "4711":
            assert attempts.counted[ALICE.sub] == int(code)
    assert attempts.counted == {} and checks.verified == ["1", "2", "4711"]


async def test_a_locked_user_or_an_overlong_code_costs_no_hash_check() -> None:
    checks = Checks()
    for used, code in ((5, "4711"), (0, "9" * 1000)):
        await outcome(bc_authorize.check_user_code(Form({"user_code": code}), REGISTERED, ALICE, config=ASKS, now=NOW,
                                                   attempts=Attempts(counted={ALICE.sub: used}), checks=checks))
    assert checks.verified == []


async def test_busy_hash_checks_refuse_before_a_guess_is_counted() -> None:
    attempts = Attempts()
    with pytest.raises(ChecksBusy):
        await bc_authorize.check_user_code(Form({"user_code": "4711"}), REGISTERED, ALICE, config=ASKS, now=NOW,
                                           attempts=attempts, checks=Checks(busy=True))
    assert attempts.counted == {}


# Storing under the per-user cap


@dataclass
class NewRequests:
    """bc_authorize.NewRequests: ``pending`` requests already wait for each user."""

    pending: int = 0
    stored: list[tuple[AuthRequest, int]] = field(default_factory=list)

    async def add(self, request: AuthRequest, *, max_pending_per_user: int) -> None:
        if 0 < max_pending_per_user <= self.pending:
            raise lifecycle.TooManyPending
        self.stored.append((request, max_pending_per_user))


def auth_request() -> AuthRequest:
    return AuthRequest(id=uuid4(), auth_req_id_hash=b"", auth_req_id_enc="", client_id="c1", sub=ALICE.sub,
                       delivery_mode="poll", scope=["openid"], acr_values=None, binding_message=None,
                       client_notification_token_enc=None, status="pending", interval_sec=5, created_at=NOW,
                       expires_at=NOW + timedelta(minutes=10), decided_at=None, auth_time=None, acr=None,
                       failure_reason=None, tokens_issued_at=None)


@pytest.mark.parametrize(("cap", "pending", "stored"), [(0, 100, True), (2, 1, True), (2, 2, False), (2, 3, False)])
async def test_the_per_user_cap(cap, pending, stored) -> None:
    config = ServerConfig(backchannelMaxPendingPerUser=cap, backchannelAuthenticationResponseInterval=7)
    requests, request = NewRequests(pending=pending), auth_request()
    if stored:
        await bc_authorize.store(requests, request, config)
        assert requests.stored == [(request, cap)]
        return
    with pytest.raises(SlowDown) as refused:
        await bc_authorize.store(requests, request, config)
    assert (refused.value.status, refused.value.body()["error"], refused.value.headers()) == \
        (429, "slow_down", {"Retry-After": "7"})  # the interval
    assert requests.stored == []


# The signed request object (CIBA Core 7.1.1)


class ClientKeys:
    """services.gateway.client_keys.KeySource over the client's registered set."""

    def __init__(self, *signers: ClientSigner) -> None:
        self._jwks = {"keys": [key for signer in signers for key in signer.jwks["keys"]]}

    async def keys(self, client: Client, *, refresh: bool = False) -> KeySet:
        return KeySet.import_key_set(self._jwks)  # type: ignore[arg-type]


@dataclass
class Jtis:
    """request_object.UsedJtis: one space per client."""

    used: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)

    async def use(self, client_id: str, purpose: str, jti: str, expires_at: datetime) -> bool:
        if (client_id, jti) in self.used:
            return False
        self.used[(client_id, jti)] = (purpose, expires_at)
        return True


SIGNER = ClientSigner("ES256")
SIGNING = replace(CLIENT, backchannel_authentication_request_signing_alg="ES256")


def read(form: dict[str, str], *, client: Client = SIGNING, config: ServerConfig = CONFIG,
         jtis: Jtis | None = None) -> Awaitable[Form]:
    return request_object.read_parameters(client, Form(form), client_keys=ClientKeys(SIGNER), jtis=jtis or Jtis(),
                                          issuer=ISSUER, config=config, now=NOW)


def signed(*, signer: ClientSigner = SIGNER, header: dict[str, str] | None = None, **overrides: Any) -> str:
    claims = request_claims("c1", ISSUER, now=NOW.timestamp(), **{"login_hint": "alice", **overrides})
    return jwt.encode({"alg": signer.alg, "kid": signer.key.kid, **(header or {})}, claims, signer.key)


async def answer(call: Awaitable[Form]) -> object:
    """The parameters read (login_hint, requested_expiry), or the error code and its description."""
    try:
        form = await call
    except ProtocolError as error:
        return error.error, error.description
    return form.get("login_hint"), form.get("requested_expiry")


T = int(NOW.timestamp())


@pytest.mark.parametrize(("case", "form", "client", "expected"), [
    ("plain form", {"login_hint": "bob"}, CLIENT, ("bob", None)),
    ("signed request", {"request": signed(requested_expiry=120)}, SIGNING, ("alice", "120")),
    ("signed though not required", {"request": signed()}, CLIENT, ("alice", None)),
    ("request_uri", {"request_uri": "urn:x", "request": signed()}, SIGNING, "request_uri is not supported"),
    ("must sign", {"login_hint": "bob"}, SIGNING, "must send a signed authentication request"),
    ("parameters beside", {"request": signed(), "binding_message": "outside", "scope": "openid"}, SIGNING,
     "scope, binding_message must be inside"),
    ("wrong iss", {"request": signed(iss="someone-else")}, SIGNING, "iss must be the client_id"),
    ("wrong aud", {"request": signed(aud="https://other.example")}, SIGNING, "aud must be"),
    ("expired", {"request": signed(exp=T - 60, nbf=T - 360, iat=T - 360)}, SIGNING, "expired"),
    ("future nbf", {"request": signed(nbf=T + 600)}, SIGNING, "nbf"),
    ("no nbf", {"request": signed(nbf=None)}, SIGNING, "no nbf"),
    ("no iat", {"request": signed(iat=None)}, SIGNING, "no iat"),
    ("lives over 60 minutes", {"request": signed(exp=T + 3700)}, SIGNING, "longer than 3600 seconds"),
    ("no jti", {"request": signed(jti=None)}, SIGNING, "no jti"),
    ("non-string parameter", {"request": signed(binding_message=["a", "b"])}, SIGNING, "must be a string"),
    ("typed a client assertion", {"request": signed(header={"typ": "client-authentication+jwt"})}, SIGNING,
     "a client assertion is not"),
    ("unsigned", {"request": unsigned(request_claims("c1", ISSUER, now=NOW.timestamp()))}, SIGNING, "alg"),
    ("another key", {"request": signed(signer=ClientSigner("ES256"))}, SIGNING, "request:"),
])
async def test_the_request_object(case, form, client, expected) -> None:
    got = await answer(read(form, client=client))
    if isinstance(expected, tuple):
        assert got == expected
    else:  # refused: invalid_request, saying what to change
        assert isinstance(got, tuple) and got[0] == "invalid_request" and expected in got[1], got


async def test_only_the_registered_alg_and_one_the_server_still_accepts() -> None:
    rsa = ClientSigner("RS256")
    keys = ClientKeys(SIGNER, rsa)
    narrowed = ServerConfig(backchannelAuthenticationRequestSigningAlgValuesSupported=["PS256"])
    for client, config, token in ((SIGNING, CONFIG, signed(signer=rsa)), (SIGNING, narrowed, signed()),
                                  (CLIENT, narrowed, signed(signer=rsa))):
        call = request_object.read_parameters(client, Form({"request": token}), client_keys=keys, jtis=Jtis(),
                                              issuer=ISSUER, config=config, now=NOW)
        assert (await answer(call))[0] == "invalid_request"


async def test_a_request_object_is_used_once() -> None:
    jtis, token = Jtis(), signed()
    assert await answer(read({"request": token}, jtis=jtis)) == ("alice", None)
    assert await answer(read({"request": token}, jtis=jtis)) == ("invalid_request",
                                                                 "request: this jti was already used")
    [(purpose, expires_at)] = jtis.used.values()
    assert purpose == "request_object" and expires_at > NOW + timedelta(seconds=300)  # kept past exp and leeway
