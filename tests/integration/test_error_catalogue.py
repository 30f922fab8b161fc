"""Every error code of CIBA Core sections 11 (token endpoint) and 13 (authentication error
response), each produced by a request that breaks exactly one rule, with the exact status."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest

from shared.domain import lifecycle
from shared.passwords import hash_password
from shared.repositories import auth_requests
from tests.support.gateway_client import CIBA_GRANT, Client, add_user, decide, register, server_property
from tests.support.jwt_client import ClientSigner

Scenario = Callable[..., Awaitable[tuple[int, dict]]]


async def _bc(http, client: Client, **data: str) -> tuple[int, dict]:
    response = await http.post("/bc-authorize", data={"scope": "openid", **data}, headers=client.basic)
    return response.status, await response.json()


async def _token(http, client: Client, auth_req_id: str) -> tuple[int, dict]:
    response = await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id},
                               headers=client.basic)
    return response.status, await response.json()


async def _started(http, gateway, **extra: str) -> tuple[Client, str]:
    client = await register(http)
    user = await add_user(gateway)
    status, body = await _bc(http, client, login_hint=user.username, **extra)
    assert status == 200, body
    return client, body["auth_req_id"]


# Section 13: the authentication error response of /bc-authorize.

async def invalid_request(http, gateway, clock):
    return await _bc(http, await register(http))  # no hint at all


async def invalid_scope(http, gateway, clock):
    return await _bc(http, await register(http), scope="profile", login_hint="x")


async def expired_login_hint_token(http, gateway, clock):
    signer = ClientSigner("ES256")
    client = await register(http, jwks=signer.jwks)
    token = signer.sign({"subject": {"subject_type": "username", "username": "x"}, "exp": int(time.time()) - 5})
    return await _bc(http, client, login_hint_token=token)


async def unknown_user_id(http, gateway, clock):
    return await _bc(http, await register(http), login_hint="no-such-user-anywhere")


async def unauthorized_client(http, gateway, clock):
    client = await register(http, grant_types=["refresh_token"], backchannel_token_delivery_mode=None)
    return await _bc(http, client, login_hint="x")


async def missing_user_code(http, gateway, clock):
    async with server_property(gateway, "backchannelUserCodeParameterSupported", True):
        client = await register(http, backchannel_user_code_parameter=True)
        return await _bc(http, client, login_hint=(await add_user(gateway)).username)


async def invalid_user_code(http, gateway, clock):
    user = await add_user(gateway)
    await gateway.rt.pool.execute("UPDATE users SET user_code_hash = $2 WHERE sub = $1", user.sub, hash_password("1"))
    async with server_property(gateway, "backchannelUserCodeParameterSupported", True):
        client = await register(http, backchannel_user_code_parameter=True)
        return await _bc(http, client, login_hint=user.username, user_code="2")


async def invalid_binding_message(http, gateway, clock):
    return await _bc(http, await register(http), login_hint="x", binding_message="\u0000bad")


async def invalid_client(http, gateway, clock):
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": "x"})
    return response.status, await response.json()


async def access_denied_at_bc_authorize(http, gateway, clock):
    client = await register(http)
    async with server_property(gateway, "featureFlags", []):
        return await _bc(http, client, login_hint="x")


# Section 11: the token error response of /token.

async def authorization_pending(http, gateway, clock):
    return await _token(http, *await _started(http, gateway))


async def slow_down(http, gateway, clock):
    client, auth_req_id = await _started(http, gateway)
    await _token(http, client, auth_req_id)
    return await _token(http, client, auth_req_id)


async def expired_token(http, gateway, clock):
    client, auth_req_id = await _started(http, gateway, requested_expiry="30")
    clock.advance(31)
    return await _token(http, client, auth_req_id)


async def access_denied_at_token(http, gateway, clock):
    client, auth_req_id = await _started(http, gateway)
    await decide(gateway, auth_req_id, approved=False)
    return await _token(http, client, auth_req_id)


async def transaction_failed(http, gateway, clock):
    client, auth_req_id = await _started(http, gateway)
    request = await auth_requests.get_by_hash(gateway.rt.pool, gateway.rt.secrets.hashes(auth_req_id))
    async with gateway.rt.pool.acquire() as conn:
        await lifecycle.fail(conn, request.id, reason="the user could not be notified", now=clock.now(),
                             service="test")
    return await _token(http, client, auth_req_id)


async def invalid_grant(http, gateway, clock):
    return await _token(http, await register(http), "never-issued")


async def unsupported_grant_type(http, gateway, clock):
    client = await register(http)
    response = await http.post("/token", data={"grant_type": "password"}, headers=client.basic)
    return response.status, await response.json()


@pytest.mark.parametrize(
    ("scenario", "status", "error"),
    [
        (invalid_request, 400, "invalid_request"),
        (invalid_scope, 400, "invalid_scope"),
        (expired_login_hint_token, 400, "expired_login_hint_token"),
        (unknown_user_id, 400, "unknown_user_id"),
        (unauthorized_client, 400, "unauthorized_client"),
        (missing_user_code, 400, "missing_user_code"),
        (invalid_user_code, 400, "invalid_user_code"),
        (invalid_binding_message, 400, "invalid_binding_message"),
        (invalid_client, 401, "invalid_client"),
        (access_denied_at_bc_authorize, 403, "access_denied"),
        (authorization_pending, 400, "authorization_pending"),
        (slow_down, 400, "slow_down"),
        (expired_token, 400, "expired_token"),
        (access_denied_at_token, 400, "access_denied"),
        (transaction_failed, 400, "transaction_failed"),
        (invalid_grant, 400, "invalid_grant"),
        (unsupported_grant_type, 400, "unsupported_grant_type"),
    ],
    ids=lambda value: value.__name__ if callable(value) else str(value),
)
async def test_each_error_code_with_its_status(http, gateway, clock, scenario: Scenario, status: int,
                                               error: str) -> None:
    got_status, body = await scenario(http, gateway, clock)
    assert (got_status, body.get("error")) == (status, error), body
    description = body.get("error_description", "")
    assert all(0x20 <= ord(ch) <= 0x7E and ch not in '"\\' for ch in description)
