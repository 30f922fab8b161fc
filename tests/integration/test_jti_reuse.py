"""One jti space for every JWT a client sends: a signed authentication request cannot be
replayed as a client assertion, nor an assertion as a signed request, even when its claims
would pass both sets of checks."""

from __future__ import annotations

import time
import uuid

from tests.support.gateway_client import add_user, register_raw
from tests.support.jwt_client import ClientSigner

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


async def dual_purpose_client(http) -> tuple[dict, ClientSigner]:
    """A private_key_jwt client that also signs its authentication requests, with one key."""
    signer = ClientSigner("ES256")
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks,
                                backchannel_authentication_request_signing_alg="ES256")
    return client, signer


def both_ways_valid(client_id: str, issuer: str, **params: str) -> dict:
    now = int(time.time())
    return {"iss": client_id, "sub": client_id, "aud": issuer, "iat": now, "nbf": now, "exp": now + 120,
            "jti": uuid.uuid4().hex, **params}


def as_assertion(token: str) -> dict[str, str]:
    return {"client_assertion_type": JWT_BEARER, "client_assertion": token}


async def test_a_signed_request_is_not_accepted_again_as_a_client_assertion(http, gateway) -> None:
    client, signer = await dual_purpose_client(http)
    user = await add_user(gateway)
    request = signer.sign(both_ways_valid(client["client_id"], gateway.issuer, scope="openid",
                                          login_hint=user.username))
    first = await http.post("/bc-authorize", data={**as_assertion(signer.sign(both_ways_valid(
        client["client_id"], gateway.issuer))), "request": request})
    assert first.status == 200, await first.text()
    # Someone who saw the request object presents it as the client's credentials.
    replay = await http.post("/token", data={"grant_type": "urn:openid:params:grant-type:ciba",
                                             "auth_req_id": (await first.json())["auth_req_id"],
                                             **as_assertion(request)})
    assert (replay.status, (await replay.json())["error"]) == (401, "invalid_client")


async def test_a_client_assertion_carrying_request_parameters_is_refused(http, gateway) -> None:
    client, signer = await dual_purpose_client(http)
    user = await add_user(gateway)
    both = signer.sign(both_ways_valid(client["client_id"], gateway.issuer, scope="openid",
                                       login_hint=user.username))
    answer = await http.post("/token", data={"grant_type": "urn:openid:params:grant-type:ciba",
                                             "auth_req_id": "x", **as_assertion(both)})
    assert (answer.status, (await answer.json())["error"]) == (401, "invalid_client")


async def test_a_used_client_assertion_is_not_accepted_again_as_a_signed_request(http, gateway) -> None:
    client, signer = await dual_purpose_client(http)
    token = signer.sign(both_ways_valid(client["client_id"], gateway.issuer))
    used = await http.post("/token", data={"grant_type": "urn:openid:params:grant-type:ciba",
                                           "auth_req_id": "unknown", **as_assertion(token)})
    assert (used.status, (await used.json())["error"]) == (400, "invalid_grant")  # authenticated
    again = await http.post("/bc-authorize", data={**as_assertion(signer.sign(both_ways_valid(
        client["client_id"], gateway.issuer))), "request": token})
    body = await again.json()
    assert (again.status, body["error"]) == (400, "invalid_request")
    assert "jti" in body["error_description"]
