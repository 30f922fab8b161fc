"""login_hint_token, id_token_hint, user_code, the per-client rate limit and the per-user cap."""

from __future__ import annotations

import time

import pytest
from aiohttp.test_utils import TestClient

from shared.passwords import hash_password
from shared.repositories import auth_requests
from tests.support.gateway_client import Client, add_user, decide, register, register_raw, server_property
from tests.support.jwt_client import ClientSigner, unsigned


async def post(http: TestClient, client: Client, **data: str):
    response = await http.post("/bc-authorize", data={"scope": "openid", **data}, headers=client.basic)
    return response.status, await response.json(), response.headers


async def _stored_sub(gateway, auth_req_id: str) -> str:
    stored = await auth_requests.get_by_hash(gateway.rt.pool, gateway.rt.secrets.hashes(auth_req_id))
    return stored.sub


@pytest.mark.parametrize(("subject_type", "field"), [("email", "email"), ("phone_number", "phone_number"),
                                                      ("username", "username"), ("phone", "phone_number")])
async def test_login_hint_token_names_the_user_by_a_configured_claim(http, gateway, subject_type, field) -> None:
    signer = ClientSigner("ES256")
    client = await register(http, jwks=signer.jwks)
    user = await add_user(gateway)
    token = signer.sign({"subject": {"subject_type": subject_type, subject_type: getattr(user, field)},
                         "exp": int(time.time()) + 300})
    status, body, _ = await post(http, client, login_hint_token=token)
    assert status == 200, body
    assert await _stored_sub(gateway, body["auth_req_id"]) == user.sub


async def test_an_expired_login_hint_token_is_expired_login_hint_token(http, gateway) -> None:
    signer = ClientSigner("RS256")
    client = await register(http, jwks=signer.jwks)
    user = await add_user(gateway)
    token = signer.sign({"subject": {"subject_type": "email", "email": user.email}, "exp": int(time.time()) - 10})
    status, body, _ = await post(http, client, login_hint_token=token)
    assert (status, body["error"]) == (400, "expired_login_hint_token")


@pytest.mark.parametrize("case", ["unsigned", "other key", "no subject", "claim not allowed", "no value"])
async def test_bad_login_hint_tokens_are_refused(http, gateway, case) -> None:
    signer = ClientSigner("ES256")
    client = await register(http, jwks=signer.jwks)
    user = await add_user(gateway)
    subject = {"subject_type": "email", "email": user.email}
    claims = {
        "unsigned": {"subject": subject}, "other key": {"subject": subject}, "no subject": {"sub": user.email},
        "claim not allowed": {"subject": {"subject_type": "sub", "sub": user.sub}},
        "no value": {"subject": {"subject_type": "email"}},
    }[case]
    token = {"unsigned": lambda: unsigned(claims), "other key": lambda: ClientSigner("ES256").sign(claims, kid=False)
             }.get(case, lambda: signer.sign(claims))()
    status, body, _ = await post(http, client, login_hint_token=token)
    assert (status, body["error"]) == (400, "invalid_request"), body


async def test_login_hint_token_for_nobody_is_unknown_user_id(http, gateway) -> None:
    signer = ClientSigner("ES256")
    client = await register(http, jwks=signer.jwks)
    token = signer.sign({"subject": {"subject_type": "email", "email": "nobody@example.org"}})
    assert (await post(http, client, login_hint_token=token))[1]["error"] == "unknown_user_id"


async def test_id_token_hint_names_the_user_even_after_it_expired(http, gateway, clock) -> None:
    client = await register(http)
    user = await add_user(gateway)
    first = (await post(http, client, login_hint=user.username))[1]["auth_req_id"]
    await decide(gateway, first, approved=True)
    token = await http.post("/token", data={"grant_type": "urn:openid:params:grant-type:ciba",
                                            "auth_req_id": first}, headers=client.basic)
    id_token = (await token.json())["id_token"]
    clock.advance(7200)  # the id_token has expired by now
    status, body, _ = await post(http, client, id_token_hint=id_token)
    assert status == 200, body
    assert await _stored_sub(gateway, body["auth_req_id"]) == user.sub


async def test_id_token_hint_of_another_client_or_forged_is_refused(http, gateway) -> None:
    client, other = await register(http), await register(http)
    user = await add_user(gateway)
    first = (await post(http, client, login_hint=user.username))[1]["auth_req_id"]
    await decide(gateway, first, approved=True)
    id_token = (await (await http.post("/token", data={"grant_type": "urn:openid:params:grant-type:ciba",
                                                       "auth_req_id": first}, headers=client.basic)).json())["id_token"]
    assert (await post(http, other, id_token_hint=id_token))[1]["error"] == "invalid_request"
    forged = ClientSigner("RS256").sign({"iss": gateway.issuer, "aud": client.client_id, "sub": user.sub})
    assert (await post(http, client, id_token_hint=forged))[1]["error"] == "invalid_request"


@pytest.fixture
async def user_code_client(http, gateway):
    async with server_property(gateway, "backchannelUserCodeParameterSupported", True):
        yield await register(http, backchannel_user_code_parameter=True)


async def test_user_code_is_required_and_checked(http, gateway, user_code_client) -> None:
    user = await add_user(gateway)
    await gateway.rt.pool.execute("UPDATE users SET user_code_hash = $2 WHERE sub = $1", user.sub,
                                  hash_password("4711"))
    assert (await post(http, user_code_client, login_hint=user.username))[1]["error"] == "missing_user_code"
    assert (await post(http, user_code_client, login_hint=user.username, user_code="0000"))[1]["error"] == \
        "invalid_user_code"
    assert (await post(http, user_code_client, login_hint=user.username, user_code="4711"))[0] == 200
    discovery = await (await http.get("/.well-known/openid-configuration")).json()
    assert discovery["backchannel_user_code_parameter_supported"] is True


async def test_a_user_without_a_code_fails_invalid_user_code(http, gateway, user_code_client) -> None:
    user = await add_user(gateway)
    assert (await post(http, user_code_client, login_hint=user.username, user_code="1234"))[1]["error"] == \
        "invalid_user_code"


async def test_user_code_is_not_asked_when_the_server_does_not_support_it(http, gateway) -> None:
    client = await register(http, backchannel_user_code_parameter=True)
    user = await add_user(gateway)
    assert (await post(http, client, login_hint=user.username))[0] == 200


async def test_the_per_client_rate_limit_answers_429_slow_down_with_retry_after(http, gateway) -> None:
    client, other = await register(http), await register(http)
    user = await add_user(gateway)
    async with server_property(gateway, "backchannelRateLimitPerClient", 2):
        answers = [await post(http, client, login_hint=user.username) for _ in range(3)]
        assert [a[0] for a in answers] == [200, 200, 429]
        assert answers[2][1]["error"] == "slow_down" and int(answers[2][2]["Retry-After"]) >= 1
        # Another client has its own bucket.
        assert (await post(http, other, login_hint=user.username))[0] == 200


async def test_the_per_user_pending_cap_answers_429(http, gateway) -> None:
    client = await register(http)
    user = await add_user(gateway)
    async with server_property(gateway, "backchannelMaxPendingPerUser", 2):
        assert (await post(http, client, login_hint=user.username))[0] == 200
        second = await post(http, client, login_hint=user.username)
        third = await post(http, client, login_hint=user.username)
        assert (third[0], third[1]["error"]) == (429, "slow_down") and third[2]["Retry-After"]
        # Once one is decided, there is room again.
        await decide(gateway, second[1]["auth_req_id"], approved=False)
        assert (await post(http, client, login_hint=user.username))[0] == 200


async def test_with_limits_off_nothing_is_limited(http, gateway) -> None:
    client = await register(http)
    user = await add_user(gateway)
    for _ in range(5):
        assert (await post(http, client, login_hint=user.username))[0] == 200


async def test_the_registration_response_echoes_jwks(http) -> None:
    signer = ClientSigner("ES256")
    client = await register_raw(http, jwks=signer.jwks)
    assert client["jwks"] == signer.jwks


async def test_user_code_guesses_are_limited_per_user(http, gateway, user_code_client) -> None:
    user = await add_user(gateway)
    await gateway.rt.pool.execute("UPDATE users SET user_code_hash = $2 WHERE sub = $1", user.sub,
                                  hash_password("4711"))
    for guess in range(5):
        assert (await post(http, user_code_client, login_hint=user.username, user_code=f"{guess}"))[1]["error"] == \
            "invalid_user_code"
    # Even the right code is refused now, until the window passes.
    assert (await post(http, user_code_client, login_hint=user.username, user_code="4711"))[1]["error"] == \
        "invalid_user_code"


async def test_a_login_hint_token_subject_type_that_is_not_a_string_is_invalid_request(http, gateway) -> None:
    signer = ClientSigner("ES256")
    client = await register(http, jwks=signer.jwks)
    token = signer.sign({"subject": {"subject_type": ["email"], "email": "x@example.org"}})
    status, body, _ = await post(http, client, login_hint_token=token)
    assert (status, body["error"]) == (400, "invalid_request")
