"""The relying-party library's ping and push handlers without the stack, against a fake provider
that signs its own id_tokens: a verified push delivered, a push whose id_token does not bind its
tokens refused, errors typed, and notifications without the request's bearer token, malformed
or too large refused."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
from ciba_client import AUTH_REQ_ID_CLAIM, AccessDenied, InvalidIdToken, half_hash
from joserfc.jwk import OctKey, RSAKey

from tests.unit.client_library_support import Harness, _harness


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
