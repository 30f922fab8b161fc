"""The relying-party library (clients/python) without the stack: its error catalogue, the hashes
that bind an id_token to its tokens, the polling arithmetic, and the ping and push handlers
refusing what they must, against a fake provider that signs its own id_tokens."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import ciba_client
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from ciba_client import (
    AUTH_REQ_ID_CLAIM,
    AccessDenied,
    CibaClient,
    CibaError,
    ClientKey,
    ClientSecretBasic,
    ClientSecretJwt,
    InvalidIdToken,
    PrivateKeyJwt,
    ProviderMetadata,
    PushResult,
    UnexpectedResponse,
    error_for,
    half_hash,
    ping_handler,
    push_handler,
)
from ciba_client.authentication_request import authentication_parameters
from ciba_client.errors import error_from_response
from ciba_client.polling import PollSchedule
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from shared import errors as server_errors

ISSUER = "https://op.example"
CLIENT_ID = "kiosk-7"


# The error catalogue.

def test_every_error_code_the_server_answers_with_has_a_class_of_the_same_name() -> None:
    """The server's catalogue (shared.errors), read by the test only: the library imports none of it."""
    own_codes = {cls.__name__: cls.__dict__["error"] for cls in vars(server_errors).values()
                 if isinstance(cls, type) and issubclass(cls, server_errors.ProtocolError) and "error" in cls.__dict__}
    for name, code in own_codes.items():
        if name in ("ProtocolError", "NotFound"):  # the base's default; an unknown route
            continue
        assert ciba_client.ERRORS[code].__name__ == name


@pytest.mark.parametrize("code", sorted(ciba_client.ERRORS))
def test_an_error_body_becomes_the_class_named_after_its_code(code: str) -> None:
    exc = error_for({"error": code, "error_description": "why"}, status=400)
    assert type(exc) is ciba_client.ERRORS[code]
    assert (exc.error, exc.description, exc.status) == (code, "why", 400)


def test_an_unknown_code_becomes_the_base_class_and_keeps_its_code() -> None:
    exc = error_for({"error": "interaction_required"}, status=400)
    assert type(exc) is CibaError and exc.error == "interaction_required" and exc.description is None


def test_an_error_answer_that_is_not_json_is_an_unexpected_response() -> None:
    exc = error_from_response(502, "<html>Bad gateway</html>")
    assert isinstance(exc, UnexpectedResponse) and exc.status == 502


def test_retry_after_is_read_from_the_answer() -> None:
    exc = error_from_response(429, '{"error": "slow_down"}', {"Retry-After": "3"})
    assert isinstance(exc, ciba_client.SlowDown) and exc.retry_after == 3.0


# Hashes (OIDC Core 3.1.3.6, CIBA 10.3.1).

def test_at_hash_matches_the_example_of_oidc_core_appendix_a() -> None:
    assert half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "RS256") == "77QmUPtjPfzWtF2AnpK9RQ"


@pytest.mark.parametrize(("alg", "length"), [("RS256", 22), ("PS384", 32), ("ES512", 43)])
def test_the_hash_follows_the_algorithm_of_the_id_token(alg: str, length: int) -> None:
    assert len(half_hash("token", alg)) == length


# Polling (CIBA Core 7.3 and 11).

def test_polls_are_an_interval_apart_from_the_start_of_the_previous_one() -> None:
    schedule = PollSchedule(deadline=100.0, interval=5)
    assert schedule.first_poll(0.0) == 0.0
    assert schedule.after_poll(0.0) == 5.0
    assert schedule.after_poll(5.0) == 10.0


def test_slow_down_adds_five_seconds_to_this_and_every_later_interval() -> None:
    schedule = PollSchedule(deadline=100.0, interval=5)
    assert schedule.after_poll(0.0, slow_down=True) == 10.0
    assert schedule.after_poll(10.0) == 20.0


def test_a_long_poll_never_asks_to_be_held_past_the_expiry() -> None:
    schedule = PollSchedule(deadline=12.5, interval=5, max_wait=30)
    assert schedule.prefer_wait(0.0) == 13
    assert schedule.prefer_wait(12.0) is None  # less than a second left: an ordinary poll
    assert PollSchedule(deadline=100.0, max_wait=30).prefer_wait(0.0) == 30
    assert PollSchedule(deadline=100.0).prefer_wait(0.0) is None


def test_one_last_poll_reads_the_final_state_after_expiry_then_polling_stops() -> None:
    schedule = PollSchedule(deadline=8.0, interval=5)
    assert schedule.after_poll(0.0) == 5.0
    assert schedule.after_poll(5.0) == 10.0  # due after the expiry: the last one
    assert schedule.after_poll(10.0) is None


def test_a_ping_client_polls_only_as_a_fallback_and_once_at_expiry() -> None:
    schedule = PollSchedule(deadline=120.0, interval=5, spacing=60)
    assert schedule.first_poll(0.0) == 60.0
    assert schedule.after_poll(60.0) == 120.0
    assert schedule.after_poll(120.0) is None


def test_exactly_one_hint_names_the_user() -> None:
    with pytest.raises(ValueError):
        authentication_parameters(scope="openid", login_hint=None, login_hint_token=None, id_token_hint=None,
                                  binding_message=None, user_code=None, requested_expiry=None, acr_values=None,
                                  ui_locales=None, extra=None)
    params = authentication_parameters(scope=["openid", "email"], login_hint="alice", login_hint_token=None,
                                       id_token_hint=None, binding_message="K 7", user_code=None,
                                       requested_expiry=60, acr_values=["mfa", "pwd"], ui_locales=None, extra=None)
    assert params == {"scope": "openid email", "login_hint": "alice", "binding_message": "K 7",
                      "requested_expiry": "60", "acr_values": "mfa pwd"}


# Client authentication (RFC 7523).

def _claims(token: str, key: Any, alg: str) -> dict[str, Any]:
    return dict(jwt.decode(token, key, algorithms=[alg]).claims)


def test_private_key_jwt_sends_a_fresh_single_use_assertion_for_the_issuer() -> None:
    key = ClientKey.generate("ES256")
    forms: list[dict[str, str]] = []
    for _ in range(2):
        form: dict[str, str] = {}
        PrivateKeyJwt(key).apply(CLIENT_ID, issuer=ISSUER, endpoint=f"{ISSUER}/token", form=form, headers={})
        forms.append(form)
    assert forms[0]["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    first, second = (_claims(f["client_assertion"], key.key, "ES256") for f in forms)
    assert first["iss"] == first["sub"] == CLIENT_ID and first["aud"] == ISSUER
    assert 0 < first["exp"] - first["iat"] <= 300
    assert first["jti"] != second["jti"]


def test_client_secret_jwt_can_name_the_endpoint_as_audience() -> None:
    form: dict[str, str] = {}
    ClientSecretJwt("a-client-secret-long-enough-for-hs512", alg="HS512", audience="endpoint").apply(
        CLIENT_ID, issuer=ISSUER, endpoint=f"{ISSUER}/bc-authorize", form=form, headers={})
    claims = _claims(form["client_assertion"], OctKey.import_key(b"a-client-secret-long-enough-for-hs512"), "HS512")
    assert claims["aud"] == f"{ISSUER}/bc-authorize"


def test_client_secret_basic_form_encodes_both_parts_and_keeps_the_secret_out_of_repr() -> None:
    headers: dict[str, str] = {}
    auth = ClientSecretBasic("p:ss w%rd")
    auth.apply("id:1", issuer=ISSUER, endpoint=ISSUER, form={}, headers=headers)
    assert base64.b64decode(headers["Authorization"].removeprefix("Basic ")) == b"id%3A1:p%3Ass%20w%25rd"
    assert "p:ss" not in repr(auth)


# The ping and push handlers, against a fake provider.

@dataclass
class FakeProvider:
    """Serves a JWKS and a backchannel endpoint; signs id_tokens as a provider would."""

    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, auto_kid=True))
    notification_tokens: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/jwks", self._jwks)
        app.router.add_post("/bc-authorize", self._bc_authorize)
        return app

    async def _jwks(self, _request: web.Request) -> web.Response:
        return web.json_response({"keys": [{**self.key.as_dict(private=False), "use": "sig"}]})

    async def _bc_authorize(self, request: web.Request) -> web.Response:
        self.notification_tokens.append((await request.post())["client_notification_token"])
        return web.json_response({"auth_req_id": uuid.uuid4().hex, "expires_in": 60})

    def push(self, auth_req_id: str, *, key: RSAKey | ECKey | None = None, alg: str = "RS256",
             **claim_overrides: Any) -> dict[str, Any]:
        access_token, refresh_token = uuid.uuid4().hex, uuid.uuid4().hex
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "user-1", "iat": now, "exp": now + 300,
                  "at_hash": half_hash(access_token, alg), "rt_hash": half_hash(refresh_token, alg),
                  AUTH_REQ_ID_CLAIM: auth_req_id, **claim_overrides}
        signer = key or self.key
        id_token = jwt.encode({"alg": alg, "kid": self.key.kid}, {k: v for k, v in claims.items() if v is not None},
                              signer, algorithms=[alg])
        return {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600, "scope": "openid",
                "id_token": id_token, "refresh_token": refresh_token, "auth_req_id": auth_req_id}


@dataclass
class Harness:
    provider: FakeProvider
    client: CibaClient
    endpoint: TestClient
    results: list[PushResult]
    pings: list[str]

    async def start(self) -> tuple[ciba_client.CibaRequest, str]:
        request = await self.client.start(login_hint="alice")
        return request, self.provider.notification_tokens[-1]

    async def notify(self, body: Any, bearer: str | None, path: str = "/push") -> int:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.endpoint.post(path, data=data, headers={**headers, "Content-Type": "application/json"}) as r:
            return r.status


async def _harness(mode: str) -> AsyncIterator[Harness]:
    provider = FakeProvider()
    async with TestServer(provider.app()) as op:
        base = str(op.make_url("")).rstrip("/")
        metadata = ProviderMetadata(issuer=ISSUER, token_endpoint=f"{base}/token", jwks_uri=f"{base}/jwks",
                                    backchannel_authentication_endpoint=f"{base}/bc-authorize",
                                    backchannel_token_delivery_modes_supported=("poll", "ping", "push"))
        client = CibaClient(metadata, client_id=CLIENT_ID, auth=ClientSecretBasic("secret"), delivery_mode=mode)
        results: list[PushResult] = []
        pings: list[str] = []

        async def on_result(result: PushResult) -> None:
            results.append(result)

        async def on_ping(auth_req_id: str) -> None:
            pings.append(auth_req_id)

        rp = web.Application()
        rp.router.add_post("/push", push_handler(client, on_result))
        rp.router.add_post("/ping", ping_handler(client, on_ping))
        async with TestClient(TestServer(rp)) as endpoint:
            yield Harness(provider, client, endpoint, results, pings)
        await client.close()


@pytest.fixture
async def push() -> AsyncIterator[Harness]:
    async for harness in _harness("push"):
        yield harness


@pytest.fixture
async def ping() -> AsyncIterator[Harness]:
    async for harness in _harness("ping"):
        yield harness


async def test_a_verified_push_is_answered_204_and_delivered_to_wait_and_the_callback(push: Harness) -> None:
    request, bearer = await push.start()
    body = push.provider.push(request.auth_req_id)
    assert await push.notify(body, bearer) == 204
    tokens = await request.wait(timeout=5)
    assert tokens.access_token == body["access_token"] and tokens.refresh_token == body["refresh_token"]
    assert tokens.claims[AUTH_REQ_ID_CLAIM] == request.auth_req_id and tokens.claims["sub"] == "user-1"
    assert [r.ok for r in push.results] == [True]
    assert body["access_token"] not in repr(tokens)


@pytest.mark.parametrize("forgery", ["other_key", "wrong_at_hash", "wrong_rt_hash", "no_rt_hash", "other_auth_req_id",
                                     "no_auth_req_id", "other_audience", "other_issuer", "expired", "hmac"])
async def test_a_push_whose_id_token_does_not_bind_the_tokens_is_refused_and_reported(
        push: Harness, forgery: str) -> None:
    request, bearer = await push.start()
    provider = push.provider
    body = {
        "other_key": lambda: provider.push(request.auth_req_id, key=RSAKey.generate_key(2048)),
        "wrong_at_hash": lambda: provider.push(request.auth_req_id, at_hash=half_hash("another", "RS256")),
        "wrong_rt_hash": lambda: provider.push(request.auth_req_id, rt_hash=half_hash("another", "RS256")),
        "no_rt_hash": lambda: provider.push(request.auth_req_id, rt_hash=None),
        "other_auth_req_id": lambda: {**provider.push("another-request"), "auth_req_id": request.auth_req_id},
        "no_auth_req_id": lambda: provider.push(request.auth_req_id, **{AUTH_REQ_ID_CLAIM: None}),
        "other_audience": lambda: provider.push(request.auth_req_id, aud="someone-else"),
        "other_issuer": lambda: provider.push(request.auth_req_id, iss="https://evil.example"),
        "expired": lambda: provider.push(request.auth_req_id, exp=int(time.time()) - 3600),
        "hmac": lambda: provider.push(request.auth_req_id, key=OctKey.import_key(b"k" * 32), alg="HS256"),
    }[forgery]()
    assert await push.notify(body, bearer) == 400
    with pytest.raises(InvalidIdToken):
        await request.wait(timeout=5)
    assert [type(r.error) for r in push.results] == [InvalidIdToken]


async def test_an_error_push_is_delivered_as_its_typed_error(push: Harness) -> None:
    request, bearer = await push.start()
    body = {"error": "access_denied", "error_description": "the user denied the request",
            "auth_req_id": request.auth_req_id}
    assert await push.notify(body, bearer) == 204
    with pytest.raises(AccessDenied) as denied:
        await request.wait(timeout=5)
    assert denied.value.description == "the user denied the request"


@pytest.mark.parametrize("path", ["/push", "/ping"])
async def test_a_notification_without_the_requests_bearer_token_is_401_and_changes_nothing(
        push: Harness, path: str) -> None:
    request, bearer = await push.start()
    other, other_bearer = await push.start()
    body = push.provider.push(request.auth_req_id)
    assert await push.notify(body, None, path) == 401
    assert await push.notify(body, "guessed", path) == 401
    assert await push.notify(body, other_bearer, path) == 401  # another request's token
    assert push.results == [] and push.pings == []
    assert not request._expected.outcome.done()
    assert other.auth_req_id != request.auth_req_id


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}", b'{"auth_req_id": 7}'])
async def test_a_malformed_notification_is_400(push: Harness, body: bytes) -> None:
    _request, bearer = await push.start()
    assert await push.notify(body, bearer) == 400
    assert await push.notify(body, bearer, "/ping") == 400


async def test_a_ping_with_the_bearer_token_is_204_and_reaches_the_callback(ping: Harness) -> None:
    request, bearer = await ping.start()
    assert await ping.notify({"auth_req_id": request.auth_req_id}, bearer, "/ping") == 204
    assert ping.pings == [request.auth_req_id]
    assert request._expected.pinged.is_set()


async def test_a_notification_larger_than_64_kib_is_refused_unread(push: Harness) -> None:
    request, bearer = await push.start()
    huge = json.dumps({"auth_req_id": request.auth_req_id, "padding": "x" * 70000}).encode()
    assert await push.notify(huge, bearer) == 413
    assert push.results == []
