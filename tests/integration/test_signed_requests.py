"""Signed authentication requests (CIBA Core 7.1.1, FAPI-CIBA): the `request` parameter."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from shared.repositories import auth_requests
from tests.support.gateway_client import add_user, register_raw, server_property
from tests.support.jwt_client import ClientSigner, request_claims, unsigned


async def post(http: TestClient, client: dict, **data: str):
    response = await http.post("/bc-authorize", data={"client_id": client["client_id"],
                                                      "client_secret": client["client_secret"], **data})
    return response.status, await response.json()


async def signed_client(http: TestClient, alg: str = "PS256", **metadata) -> tuple[dict, ClientSigner]:
    signer = ClientSigner(alg)
    client = await register_raw(http, token_endpoint_auth_method="client_secret_post", jwks=signer.jwks,
                                backchannel_authentication_request_signing_alg=alg, **metadata)
    return client, signer


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
async def test_a_signed_request_is_accepted_and_its_parameters_used(http, gateway, alg) -> None:
    client, signer = await signed_client(http, alg)
    user = await add_user(gateway)
    token = signer.sign(request_claims(client["client_id"], gateway.issuer, login_hint=user.email,
                                       scope="openid email", binding_message="Signed 42",
                                       requested_expiry=120))
    status, body = await post(http, client, request=token)
    assert status == 200, body
    assert body["expires_in"] == 120  # a JSON number in the request object
    stored = await auth_requests.get_by_hash(gateway.rt.pool, gateway.rt.secrets.hashes(body["auth_req_id"]))
    assert (stored.sub, stored.scope, stored.binding_message) == (user.sub, ["openid", "email"], "Signed 42")


async def test_requested_expiry_may_be_a_numeric_string_in_the_request_too(http, gateway) -> None:
    client, signer = await signed_client(http)
    user = await add_user(gateway)
    token = signer.sign(request_claims(client["client_id"], gateway.issuer, login_hint=user.username,
                                       requested_expiry="90"))
    status, body = await post(http, client, request=token)
    assert (status, body["expires_in"]) == (200, 90)


def _case(name: str, client_id: str, issuer: str, now: float, hint: str) -> dict:
    base = {"login_hint": hint}
    overrides = {
        "expired": {"exp": int(now) - 60, "nbf": int(now) - 360, "iat": int(now) - 360},
        "future nbf": {"nbf": int(now) + 600},
        "no nbf": {"nbf": None},
        "no iat": {"iat": None},
        "no exp": {"exp": None},
        "no jti": {"jti": None},
        "lives over 60 minutes": {"exp": int(now) + 3700},
        "wrong aud": {"aud": "https://other.example"},
        "wrong iss": {"iss": "someone-else"},
        "non-string parameter": {"binding_message": ["a", "b"]},
        "float expiry": {"requested_expiry": 1.5},
    }[name]
    return request_claims(client_id, issuer, now=now, **{**base, **overrides})


@pytest.mark.parametrize("case", ["expired", "future nbf", "no nbf", "no iat", "no exp", "no jti",
                                  "lives over 60 minutes", "wrong aud", "wrong iss", "non-string parameter",
                                  "float expiry"])
async def test_bad_request_objects_are_invalid_request(http, gateway, clock, case) -> None:
    client, signer = await signed_client(http)
    user = await add_user(gateway)
    token = signer.sign(_case(case, client["client_id"], gateway.issuer, clock.now().timestamp(), user.username))
    status, body = await post(http, client, request=token)
    assert (status, body["error"]) == (400, "invalid_request"), (case, body)


async def test_a_replayed_request_object_is_refused(http, gateway) -> None:
    client, signer = await signed_client(http)
    user = await add_user(gateway)
    token = signer.sign(request_claims(client["client_id"], gateway.issuer, login_hint=user.username))
    assert (await post(http, client, request=token))[0] == 200
    status, body = await post(http, client, request=token)
    assert (status, body["error"]) == (400, "invalid_request") and "jti" in body["error_description"]


async def test_only_the_registered_alg_and_never_none(http, gateway) -> None:
    client, signer = await signed_client(http, "ES256")
    user = await add_user(gateway)
    claims = request_claims(client["client_id"], gateway.issuer, login_hint=user.username)
    assert (await post(http, client, request=unsigned(claims)))[1]["error"] == "invalid_request"
    rsa = ClientSigner("RS256")
    assert (await post(http, client, request=rsa.sign({**claims, "jti": "j2"})))[1]["error"] == "invalid_request"


async def test_an_alg_the_server_no_longer_accepts_is_refused(http, gateway) -> None:
    signer = ClientSigner("RS256")
    client = await register_raw(http, token_endpoint_auth_method="client_secret_post", jwks=signer.jwks)
    user = await add_user(gateway)
    claims = request_claims(client["client_id"], gateway.issuer, login_hint=user.username)
    async with server_property(gateway, "backchannelAuthenticationRequestSigningAlgValuesSupported", ["PS256"]):
        status, body = await post(http, client, request=signer.sign(claims))
    assert (status, body["error"]) == (400, "invalid_request")


async def test_parameters_beside_the_request_object_are_refused(http, gateway) -> None:
    client, signer = await signed_client(http)
    user = await add_user(gateway)
    token = signer.sign(request_claims(client["client_id"], gateway.issuer, login_hint=user.username))
    status, body = await post(http, client, request=token, binding_message="outside")
    assert (status, body["error"]) == (400, "invalid_request")
    assert "binding_message" in body["error_description"]


async def test_a_client_registered_with_a_signing_alg_must_sign(http, gateway) -> None:
    client, _signer = await signed_client(http)
    user = await add_user(gateway)
    status, body = await post(http, client, scope="openid", login_hint=user.username)
    assert (status, body["error"]) == (400, "invalid_request")
    assert "signed" in body["error_description"]


async def test_registration_with_a_signing_alg_needs_keys(http) -> None:
    response = await http.post("/register", json={
        "grant_types": ["urn:openid:params:grant-type:ciba"], "backchannel_token_delivery_mode": "poll",
        "backchannel_authentication_request_signing_alg": "PS256"})
    assert (await response.json())["error"] == "invalid_client_metadata"
