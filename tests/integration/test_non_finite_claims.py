"""NaN and Infinity in a JWT's numeric claims (Python's json reads them) are refused like any
other bad claim, with the endpoint's usual 400 or 401, never a 500."""

from __future__ import annotations

import math

import pytest

from tests.support.gateway_client import add_user, register, register_raw
from tests.support.jwt_client import ClientSigner, assertion_claims, request_claims

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NON_FINITE = [math.nan, math.inf, -math.inf]
CLAIMS = ["exp", "iat", "nbf"]


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
@pytest.mark.parametrize("claim", CLAIMS)
async def test_in_a_client_assertion_it_is_401_invalid_client(http, gateway, claim, value) -> None:
    signer = ClientSigner("ES256")
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks)
    user = await add_user(gateway)
    assertion = signer.sign(assertion_claims(client["client_id"], gateway.issuer, **{claim: value}))
    response = await http.post("/bc-authorize", data={
        "scope": "openid", "login_hint": user.username, "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion})
    assert (response.status, (await response.json())["error"]) == (401, "invalid_client")


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
@pytest.mark.parametrize("claim", CLAIMS)
async def test_in_a_signed_request_it_is_400_invalid_request(http, gateway, claim, value) -> None:
    signer = ClientSigner("ES256")
    client = await register_raw(http, token_endpoint_auth_method="client_secret_post", jwks=signer.jwks,
                                backchannel_authentication_request_signing_alg="ES256")
    user = await add_user(gateway)
    token = signer.sign(request_claims(client["client_id"], gateway.issuer, login_hint=user.username,
                                       **{claim: value}))
    response = await http.post("/bc-authorize", data={
        "client_id": client["client_id"], "client_secret": client["client_secret"], "request": token})
    assert (response.status, (await response.json())["error"]) == (400, "invalid_request")


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
@pytest.mark.parametrize("claim", CLAIMS)
async def test_in_a_login_hint_token_it_is_400_invalid_request(http, gateway, claim, value) -> None:
    signer = ClientSigner("ES256")
    client = await register(http, jwks=signer.jwks)
    user = await add_user(gateway)
    token = signer.sign({"subject": {"subject_type": "username", "username": user.username}, claim: value})
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint_token": token},
                               headers=client.basic)
    assert (response.status, (await response.json())["error"]) == (400, "invalid_request")
