"""/token with the CIBA grant (CIBA Core 10.1, 11) and the refresh_token grant, with a frozen
clock: the tests move time instead of sleeping."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from shared.clock import FrozenClock
from tests.support.gateway_client import CIBA_GRANT, Client, add_user, decide, register, server_property


@pytest.fixture
async def client(http: TestClient) -> Client:
    return await register(http)


async def start(http: TestClient, gateway, client: Client, **extra: str) -> str:
    user = await add_user(gateway)
    response = await http.post("/bc-authorize", data={"scope": "openid email", "login_hint": user.username,
                                                      **extra}, headers=client.basic)
    assert response.status == 200, await response.text()
    return (await response.json())["auth_req_id"]


async def poll(http: TestClient, client: Client, auth_req_id: str) -> tuple[int, dict]:
    response = await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id},
                               headers=client.basic)
    assert response.headers["Cache-Control"] == "no-store"
    return response.status, await response.json()


async def test_pending_then_slow_down_then_pending_after_waiting_the_grown_interval(
        http, gateway, client, clock: FrozenClock) -> None:
    auth_req_id = await start(http, gateway, client)
    assert (await poll(http, client, auth_req_id))[1]["error"] == "authorization_pending"
    clock.advance(4.9)
    assert (await poll(http, client, auth_req_id))[1]["error"] == "slow_down"
    clock.advance(9.9)  # the interval is now 10 s
    assert (await poll(http, client, auth_req_id))[1]["error"] == "slow_down"
    clock.advance(15)  # and now 15 s
    assert (await poll(http, client, auth_req_id))[1]["error"] == "authorization_pending"


async def test_polling_at_the_interval_never_slows_down(http, gateway, client, clock) -> None:
    auth_req_id = await start(http, gateway, client)
    for _ in range(4):
        assert (await poll(http, client, auth_req_id))[1]["error"] == "authorization_pending"
        clock.advance(5)


async def test_expired_token_once_the_request_is_past_its_expiry_even_before_the_sweep(
        http, gateway, client, clock) -> None:
    auth_req_id = await start(http, gateway, client, requested_expiry="60")
    clock.advance(61)
    status, body = await poll(http, client, auth_req_id)
    assert (status, body["error"]) == (400, "expired_token")


async def test_approved_request_can_be_exchanged_within_the_grant_extra_time(
        http, gateway, client, clock) -> None:
    auth_req_id = await start(http, gateway, client, requested_expiry="60")
    await decide(gateway, auth_req_id, approved=True)
    clock.advance(60 + 179)  # cibaGrantLifeExtraTimeSec = 180
    status, body = await poll(http, client, auth_req_id)
    assert status == 200, body
    assert {"access_token", "id_token", "refresh_token", "expires_in", "token_type"} <= set(body)


async def test_approved_request_expires_after_the_grant_extra_time(http, gateway, client, clock) -> None:
    auth_req_id = await start(http, gateway, client, requested_expiry="60")
    await decide(gateway, auth_req_id, approved=True)
    clock.advance(60 + 181)
    status, body = await poll(http, client, auth_req_id)
    assert (status, body["error"]) == (400, "expired_token")


async def test_denied_request_answers_access_denied(http, gateway, client) -> None:
    auth_req_id = await start(http, gateway, client)
    await decide(gateway, auth_req_id, approved=False)
    assert await poll(http, client, auth_req_id) == (400, {"error": "access_denied",
                                                           "error_description": "the user denied the request"})


async def test_an_auth_req_id_of_another_client_or_unknown_is_invalid_grant(http, gateway, client) -> None:
    auth_req_id = await start(http, gateway, client)
    other = await register(http)
    assert (await poll(http, other, auth_req_id))[1]["error"] == "invalid_grant"
    assert (await poll(http, client, "no-such-auth-req-id"))[1]["error"] == "invalid_grant"
    # The other client's attempt did not count as a poll of this request.
    assert (await poll(http, client, auth_req_id))[1]["error"] == "authorization_pending"


async def test_tokens_are_issued_once(http, gateway, client) -> None:
    auth_req_id = await start(http, gateway, client)
    await decide(gateway, auth_req_id, approved=True)
    assert (await poll(http, client, auth_req_id))[0] == 200
    assert (await poll(http, client, auth_req_id))[1]["error"] == "invalid_grant"


async def test_a_push_client_cannot_use_the_ciba_grant(http, gateway) -> None:
    client = await register(http, backchannel_token_delivery_mode="push",
                            backchannel_client_notification_endpoint="http://127.0.0.1:1/cb")
    status, body = await poll(http, client, "whatever")
    assert (status, body["error"]) == (400, "unauthorized_client")


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({}, 400, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "x"}, 400, "unsupported_grant_type"),
        ({"grant_type": CIBA_GRANT}, 400, "invalid_request"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
    ],
)
async def test_malformed_token_requests_get_the_spec_error(http, client, data, status, error) -> None:
    response = await http.post("/token", data=data, headers=client.basic)
    assert (response.status, (await response.json())["error"]) == (status, error)


async def test_a_client_not_registered_for_refresh_tokens_gets_none_and_may_not_use_the_grant(
        http, gateway) -> None:
    client = await register(http, grant_types=[CIBA_GRANT])
    auth_req_id = await start(http, gateway, client)
    await decide(gateway, auth_req_id, approved=True)
    status, body = await poll(http, client, auth_req_id)
    assert status == 200 and "refresh_token" not in body
    response = await http.post("/token", data={"grant_type": "refresh_token", "refresh_token": "x"},
                               headers=client.basic)
    assert (await response.json())["error"] == "unauthorized_client"


async def test_refresh_token_of_another_client_is_invalid_grant(http, gateway, client) -> None:
    auth_req_id = await start(http, gateway, client)
    await decide(gateway, auth_req_id, approved=True)
    refresh_token = (await poll(http, client, auth_req_id))[1]["refresh_token"]
    other = await register(http)
    response = await http.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                               headers=other.basic)
    assert (await response.json())["error"] == "invalid_grant"


async def test_refresh_may_narrow_but_not_widen_the_scope(http, gateway, client) -> None:
    auth_req_id = await start(http, gateway, client)
    await decide(gateway, auth_req_id, approved=True)
    refresh_token = (await poll(http, client, auth_req_id))[1]["refresh_token"]
    wider = await http.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token,
                                            "scope": "openid email phone"}, headers=client.basic)
    assert (await wider.json())["error"] == "invalid_scope"
    narrower = await http.post("/token", data={"grant_type": "refresh_token",
                                               "refresh_token": refresh_token, "scope": "openid"},
                               headers=client.basic)
    assert narrower.status == 200 and (await narrower.json())["scope"] == "openid"


async def test_userinfo_refuses_missing_malformed_and_expired_tokens(http, gateway, client, clock) -> None:
    assert (await http.get("/userinfo")).status == 401
    bad = await http.get("/userinfo", headers={"Authorization": "Bearer not.a.jwt"})
    assert bad.status == 401 and bad.headers["WWW-Authenticate"].startswith("Bearer")
    auth_req_id = await start(http, gateway, client)
    await decide(gateway, auth_req_id, approved=True)
    body = (await poll(http, client, auth_req_id))[1]
    # The id_token is not an access token.
    assert (await http.get("/userinfo", headers={"Authorization": f"Bearer {body['id_token']}"})).status == 401
    ok = await http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert ok.status == 200
    clock.advance(body["expires_in"] + 1)
    late = await http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert (late.status, (await late.json())["error"]) == (401, "invalid_token")


async def test_id_token_can_be_signed_with_ps256_or_es256_as_registered(http, gateway) -> None:
    from joserfc import jwt
    from joserfc.jwk import KeySet

    jwks = KeySet.import_key_set(await (await http.get("/jwks")).json())
    for alg in ("PS256", "ES256"):
        client = await register(http, id_token_signed_response_alg=alg)
        auth_req_id = await start(http, gateway, client)
        await decide(gateway, auth_req_id, approved=True)
        id_token = (await poll(http, client, auth_req_id))[1]["id_token"]
        decoded = jwt.decode(id_token, jwks, algorithms=[alg])
        assert decoded.header["alg"] == alg and decoded.claims["aud"] == client.client_id


async def test_with_the_ciba_flag_off_discovery_has_no_backchannel_keys(http, gateway) -> None:
    async with server_property(gateway, "featureFlags", []):
        off = await (await http.get("/.well-known/openid-configuration")).json()
    on = await (await http.get("/.well-known/openid-configuration")).json()
    assert not [key for key in off if key.startswith("backchannel_")]
    assert CIBA_GRANT not in off["grant_types_supported"]
    assert on["backchannel_authentication_endpoint"].endswith("/bc-authorize")
    assert on["backchannel_token_delivery_modes_supported"] == ["poll", "ping", "push"]
    assert on["backchannel_user_code_parameter_supported"] is False
