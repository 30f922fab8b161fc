"""The FAPI-CIBA profile: one negative test per rule, named after the OpenID Foundation's
FAPI-CIBA-ID1 test plan modules (fapi-ciba-id1-...) where the plan has one, plus the profile's
switches (server-wide ``fapiCibaProfile`` and the per-client ``fapi_ciba`` metadata)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from shared.repositories.clients import CIBA_GRANT
from tests.support.dpop import DpopKey
from tests.support.gateway_client import add_user, decide, register_raw, server_property
from tests.support.jwt_client import ClientSigner, assertion_claims, request_claims, unsigned

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class FapiClient:
    client_id: str
    signer: ClientSigner

    def auth(self, audience: str, *, alg: str | None = None) -> dict[str, str]:
        return {"client_id": self.client_id, "client_assertion_type": JWT_BEARER,
                "client_assertion": self.signer.sign(assertion_claims(self.client_id, audience), alg=alg)}


@pytest.fixture
async def profile_on(gateway) -> AsyncIterator[None]:
    async with server_property(gateway, "fapiCibaProfile", True):
        yield


async def fapi_client(http: TestClient, alg: str = "PS256", **metadata: Any) -> FapiClient:
    signer = ClientSigner(alg)
    metadata = {"backchannel_authentication_request_signing_alg": alg, **metadata}
    registered = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks,
                                    **{k: v for k, v in metadata.items() if v is not None})
    return FapiClient(registered["client_id"], signer)


async def bc_authorize(http: TestClient, gateway, client: FapiClient, *, signer: ClientSigner | None = None,
                       assertion_alg: str | None = None, request_alg: str | None = None,
                       **params: Any) -> tuple[int, dict]:
    """A signed authentication request (unless ``params`` says request=None), FAPI-style."""
    user = await add_user(gateway)
    unsigned_form = "request" in params and params.pop("request") is None
    params = {"login_hint": user.username, "binding_message": "Pay 42 EUR", **params}
    claims = request_claims(client.client_id, gateway.issuer, now=gateway.rt.clock.now().timestamp(), **params)
    data = client.auth(gateway.issuer, alg=assertion_alg)
    if unsigned_form:
        data.update({k: str(v) for k, v in claims.items() if k in ("scope", "login_hint", "binding_message")})
    else:
        data["request"] = (signer or client.signer).sign(claims, alg=request_alg)
    response = await http.post("/bc-authorize", data=data)
    return response.status, await response.json()


# A request object per FAPI-CIBA-ID1 negative module: (module, claim overrides relative to now).
REQUEST_OBJECT_MODULES = {
    "ensure-request-object-missing-aud-fails": lambda now: {"aud": None},
    "ensure-request-object-bad-aud-fails": lambda now: {"aud": "https://other.example"},
    "ensure-request-object-missing-iss-fails": lambda now: {"iss": None},
    "ensure-request-object-bad-iss-fails": lambda now: {"iss": "someone-else"},
    "ensure-request-object-missing-exp-fails": lambda now: {"exp": None},
    "ensure-request-object-expired-exp-fails": lambda now: {"exp": now - 60, "nbf": now - 360, "iat": now - 360},
    "ensure-request-object-exp-is-70-minutes-in-future-fails": lambda now: {"exp": now + 70 * 60},
    "ensure-request-object-missing-iat-fails": lambda now: {"iat": None},
    "ensure-request-object-missing-nbf-fails": lambda now: {"nbf": None},
    "ensure-request-object-nbf-is-10-minutes-in-future-fails": lambda now: {"nbf": now + 600},
    "ensure-request-object-nbf-is-70-minutes-in-past-fails": lambda now: {"nbf": now - 70 * 60},
    "ensure-request-object-missing-jti-fails": lambda now: {"jti": None},
}


@pytest.mark.parametrize("module", REQUEST_OBJECT_MODULES)
async def test_request_object_rules(http, gateway, profile_on, module) -> None:
    client = await fapi_client(http)
    now = int(gateway.rt.clock.now().timestamp())
    status, body = await bc_authorize(http, gateway, client, **REQUEST_OBJECT_MODULES[module](now))
    assert (status, body["error"]) == (400, "invalid_request"), (module, body)


async def test_a_well_formed_request_is_accepted(http, gateway, profile_on) -> None:
    """fapi-ciba-id1 (the happy path's first step): PS256 everywhere, a binding message."""
    client = await fapi_client(http)
    status, body = await bc_authorize(http, gateway, client)
    assert status == 200, body


async def test_ensure_backchannel_authorization_request_without_request_fails(http, gateway, profile_on) -> None:
    client = await fapi_client(http, alg="ES256", backchannel_authentication_request_signing_alg=None)
    status, body = await bc_authorize(http, gateway, client, request=None)
    assert (status, body["error"]) == (400, "invalid_request") and "signed" in body["error_description"]


async def test_ensure_request_object_signature_algorithm_is_rs256_fails(http, gateway, profile_on) -> None:
    """Registered without a request alg, the client's RSA key may sign PS256 but never RS256."""
    client = await fapi_client(http, backchannel_authentication_request_signing_alg=None)
    status, body = await bc_authorize(http, gateway, client, request_alg="RS256")
    assert (status, body["error"]) == (400, "invalid_request"), body
    assert (await bc_authorize(http, gateway, client, request_alg="PS256"))[0] == 200


async def test_ensure_request_object_signature_algorithm_is_none_fails(http, gateway, profile_on) -> None:
    client = await fapi_client(http)
    user = await add_user(gateway)
    claims = request_claims(client.client_id, gateway.issuer, login_hint=user.username, binding_message="B 1")
    response = await http.post("/bc-authorize", data={**client.auth(gateway.issuer), "request": unsigned(claims)})
    assert (response.status, (await response.json())["error"]) == (400, "invalid_request")


async def test_ensure_request_object_signed_by_other_client_fails(http, gateway, profile_on) -> None:
    client = await fapi_client(http)
    status, body = await bc_authorize(http, gateway, client, signer=ClientSigner("PS256"))
    assert (status, body["error"]) == (400, "invalid_request")


async def test_binding_message_is_required(http, gateway, profile_on) -> None:
    client = await fapi_client(http)
    status, body = await bc_authorize(http, gateway, client, binding_message=None)
    assert (status, body["error"]) == (400, "invalid_request") and "binding_message" in body["error_description"]


async def test_ensure_client_assertion_signature_algorithm_in_backchannel_request_is_rs256_fails(
        http, gateway, profile_on) -> None:
    client = await fapi_client(http)
    status, body = await bc_authorize(http, gateway, client, assertion_alg="RS256")
    assert (status, body["error"]) == (401, "invalid_client")


async def test_ensure_client_assertion_signature_algorithm_in_token_endpoint_request_is_rs256_fails(
        http, gateway, profile_on) -> None:
    client = await fapi_client(http)
    status, started = await bc_authorize(http, gateway, client)
    assert status == 200
    response = await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": started["auth_req_id"],
                                               **client.auth(f"{gateway.issuer}/token", alg="RS256")})
    assert (response.status, (await response.json())["error"]) == (401, "invalid_client")


async def test_ensure_without_client_assertion_in_token_endpoint_fails(http, gateway, profile_on) -> None:
    client = await fapi_client(http)
    status, started = await bc_authorize(http, gateway, client)
    response = await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": started["auth_req_id"],
                                               "client_id": client.client_id})
    assert (response.status, (await response.json())["error"]) == (401, "invalid_client")


async def test_ensure_holder_of_key_required(http, gateway, profile_on) -> None:
    """fapi-ciba-id1-ensure-mtls-holder-of-key-required: without a client certificate or a DPoP
    proof the token endpoint refuses to mint a bearer token, however valid the grant."""
    client = await fapi_client(http)
    status, started = await bc_authorize(http, gateway, client)
    await decide(gateway, started["auth_req_id"], approved=True)
    response = await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": started["auth_req_id"],
                                               **client.auth(f"{gateway.issuer}/token")})
    body = await response.json()
    assert (response.status, body["error"]) == (400, "invalid_request") and "sender-constrained" in \
        body["error_description"]


@pytest.mark.parametrize(("metadata", "problem"), [
    ({"backchannel_token_delivery_mode": "push",
      "backchannel_client_notification_endpoint": "https://rp.example/cb"}, "push"),
    ({"token_endpoint_auth_method": "client_secret_basic", "jwks": None,
      "backchannel_authentication_request_signing_alg": None}, "client_secret_basic"),
    ({"id_token_signed_response_alg": "RS256"}, "id_token_signed_response_alg"),
    ({"backchannel_authentication_request_signing_alg": "RS256"}, "backchannel_authentication_request_signing_alg"),
    ({"token_endpoint_auth_signing_alg": "RS256"}, "token_endpoint_auth_signing_alg"),
])
async def test_registration_refuses_what_the_profile_forbids(http, gateway, profile_on, metadata, problem) -> None:
    signer = ClientSigner("PS256")
    body = {"grant_types": [CIBA_GRANT], "backchannel_token_delivery_mode": "poll",
            "token_endpoint_auth_method": "private_key_jwt", "jwks": signer.jwks,
            "backchannel_authentication_request_signing_alg": "PS256", **metadata}
    response = await http.post("/register", json={k: v for k, v in body.items() if v is not None})
    answer = await response.json()
    assert (response.status, answer["error"]) == (400, "invalid_client_metadata")
    assert problem in answer["error_description"]


async def test_registration_defaults_the_id_token_to_ps256(http, gateway, profile_on) -> None:
    signer = ClientSigner("ES256")
    registered = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks)
    assert registered["id_token_signed_response_alg"] == "PS256"


async def test_clients_registered_before_the_switch_are_refused(http, gateway) -> None:
    old = await register_raw(http, token_endpoint_auth_method="client_secret_post")
    user = await add_user(gateway)
    form = {"client_id": old["client_id"], "client_secret": old["client_secret"], "scope": "openid",
            "login_hint": user.username, "binding_message": "B 1"}
    assert (await http.post("/bc-authorize", data=form)).status == 200
    async with server_property(gateway, "fapiCibaProfile", True):
        response = await http.post("/bc-authorize", data=form)
        body = await response.json()
    assert (response.status, body["error"]) == (400, "unauthorized_client")
    assert "client_secret_post" in body["error_description"] and "RS256" in body["error_description"]


async def test_one_client_can_follow_the_profile_alone(http, gateway) -> None:
    """fapi_ciba: true in the metadata: its rules for that client, none for the others."""
    client = await fapi_client(http, fapi_ciba=True)
    status, body = await bc_authorize(http, gateway, client, binding_message=None)
    assert (status, body["error"]) == (400, "invalid_request")
    other = await fapi_client(http)
    assert (await bc_authorize(http, gateway, other, binding_message=None))[0] == 200
    refused = await http.post("/register", json={
        "grant_types": [CIBA_GRANT], "backchannel_token_delivery_mode": "poll", "fapi_ciba": True,
        "token_endpoint_auth_method": "client_secret_basic"})
    assert (await refused.json())["error"] == "invalid_client_metadata"


async def test_discovery_offers_only_what_the_profile_allows(http, gateway, profile_on) -> None:
    """fapi-ciba-id1-discovery-endpoint-verification."""
    doc = await (await http.get("/.well-known/openid-configuration")).json()
    assert doc["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    assert set(doc["token_endpoint_auth_methods_supported"]) <= {"private_key_jwt", "tls_client_auth",
                                                                 "self_signed_tls_client_auth"}
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    for key in ("id_token_signing_alg_values_supported", "token_endpoint_auth_signing_alg_values_supported",
                "backchannel_authentication_request_signing_alg_values_supported"):
        assert doc[key] and set(doc[key]) <= {"PS256", "ES256"}, key


async def test_fapi_ciba_id1_poll_flow_with_sender_constrained_tokens(http, gateway, profile_on) -> None:
    """fapi-ciba-id1 (the whole poll flow): the access token is bound (here to a DPoP key), the
    id_token is signed PS256, and /userinfo wants the key."""
    client = await fapi_client(http)
    status, started = await bc_authorize(http, gateway, client)
    assert status == 200, started
    await decide(gateway, started["auth_req_id"], approved=True)
    key = DpopKey()
    now = gateway.rt.clock.now().timestamp()
    response = await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": started["auth_req_id"],
                                               **client.auth(f"{gateway.issuer}/token")},
                               headers={"DPoP": key.proof("POST", f"{gateway.issuer}/token", iat=now)})
    tokens = await response.json()
    assert response.status == 200, tokens
    assert tokens["token_type"] == "DPoP"
    assert jwt_header(tokens["id_token"])["alg"] == "PS256"
    assert jwt_claims(tokens["access_token"])["cnf"] == {"jkt": key.jkt}
    proof = key.proof("GET", f"{gateway.issuer}/userinfo", iat=now, access_token=tokens["access_token"])
    info = await http.get("/userinfo", headers={"Authorization": f"DPoP {tokens['access_token']}", "DPoP": proof})
    assert info.status == 200


def jwt_header(token: str) -> dict:
    return _part(token, 0)


def jwt_claims(token: str) -> dict:
    return _part(token, 1)


def _part(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
