"""client_secret_jwt and private_key_jwt (RFC 7523, OIDC Core 9) at /bc-authorize and /token,
with keys generated in the test."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from shared.outbound import AddressPolicy, create_session
from tests.support.gateway_client import CIBA_GRANT, Client, add_user, register_raw
from tests.support.jwt_client import ClientSigner, assertion_claims, hmac_sign, unsigned

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


async def bc_authorize(http: TestClient, assertion: str, hint: str, **extra: str):
    response = await http.post("/bc-authorize", data={
        "scope": "openid", "login_hint": hint, "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion, **extra})
    return response.status, await response.json(), response.headers


@pytest.fixture
async def hint(gateway) -> str:
    return (await add_user(gateway)).username


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
async def test_private_key_jwt_authenticates_with_each_algorithm(http, gateway, hint, alg) -> None:
    signer = ClientSigner(alg)
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks)
    audience = gateway.issuer
    status, body, _ = await bc_authorize(http, signer.sign(assertion_claims(client["client_id"], audience)), hint)
    assert status == 200, body


async def test_the_endpoint_url_is_an_accepted_audience_too(http, gateway, hint) -> None:
    signer = ClientSigner("ES256")
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks)
    claims = assertion_claims(client["client_id"], f"{gateway.issuer}/bc-authorize")
    assert (await bc_authorize(http, signer.sign(claims), hint))[0] == 200


@pytest.mark.parametrize("alg", ["HS256", "HS512"])
async def test_client_secret_jwt_authenticates_at_the_token_endpoint(http, gateway, alg) -> None:
    client = await register_raw(http, token_endpoint_auth_method="client_secret_jwt")
    claims = assertion_claims(client["client_id"], f"{gateway.issuer}/token")
    response = await http.post("/token", data={
        "grant_type": CIBA_GRANT, "auth_req_id": "unknown", "client_assertion_type": JWT_BEARER,
        "client_assertion": hmac_sign(client["client_secret"], claims, alg)})
    # Authenticated: the answer is about the grant, not the client.
    assert (response.status, (await response.json())["error"]) == (400, "invalid_grant")


def _claims(client_id: str, issuer: str, case: str, now: float) -> dict:
    overrides = {
        "expired": {"exp": int(now) - 120, "iat": int(now) - 180},
        "too long-lived": {"exp": int(now) + 3600},
        "future nbf": {"nbf": int(now) + 600},
        "future iat": {"iat": int(now) + 600, "exp": int(now) + 660},
        "no exp": {"exp": None},
        "no jti": {"jti": None},
        "wrong aud": {"aud": "https://someone-else.example"},
        "wrong sub": {"sub": "another-client"},
        "wrong iss": {"iss": "another-client"},
    }[case]
    return assertion_claims(client_id, issuer, now=now, **overrides)


@pytest.mark.parametrize("method", ["private_key_jwt", "client_secret_jwt"])
@pytest.mark.parametrize("case", ["expired", "too long-lived", "future nbf", "future iat", "no exp", "no jti",
                                  "wrong aud", "wrong sub", "wrong iss"])
async def test_bad_assertions_are_401_invalid_client(http, gateway, hint, case, method, clock) -> None:
    signer = ClientSigner("PS256")
    client = await register_raw(http, token_endpoint_auth_method=method, jwks=signer.jwks)
    claims = _claims(client["client_id"], gateway.issuer, case, clock.now().timestamp())
    assertion = signer.sign(claims) if method == "private_key_jwt" else hmac_sign(client["client_secret"], claims)
    status, body, headers = await bc_authorize(http, assertion, hint)
    assert (status, body["error"]) == (401, "invalid_client"), (case, body)
    assert headers["WWW-Authenticate"].startswith("Basic")


async def test_a_replayed_client_secret_jwt_is_refused_and_alg_none_never_works(http, gateway, hint) -> None:
    client = await register_raw(http, token_endpoint_auth_method="client_secret_jwt",
                                token_endpoint_auth_signing_alg="HS256")
    claims = assertion_claims(client["client_id"], gateway.issuer)
    assertion = hmac_sign(client["client_secret"], claims)
    assert (await bc_authorize(http, assertion, hint))[0] == 200
    assert (await bc_authorize(http, assertion, hint))[1]["error"] == "invalid_client"
    # Another HMAC than the registered one, a wrong secret, and no signature at all.
    assert (await bc_authorize(http, hmac_sign(client["client_secret"], {**claims, "jti": "a"}, "HS512"),
                               hint))[0] == 401
    assert (await bc_authorize(http, hmac_sign("not-the-secret-at-all", {**claims, "jti": "b"}), hint))[0] == 401
    assert (await bc_authorize(http, unsigned({**claims, "jti": "c"}), hint))[0] == 401


async def test_a_replayed_assertion_is_refused(http, gateway, hint) -> None:
    signer = ClientSigner("ES256")
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks)
    assertion = signer.sign(assertion_claims(client["client_id"], gateway.issuer))
    assert (await bc_authorize(http, assertion, hint))[0] == 200
    status, body, _ = await bc_authorize(http, assertion, hint)
    assert (status, body["error"]) == (401, "invalid_client")


async def test_alg_none_and_wrong_algorithms_are_refused(http, gateway, hint) -> None:
    signer = ClientSigner("RS256")
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks,
                                token_endpoint_auth_signing_alg="RS256")
    claims = assertion_claims(client["client_id"], gateway.issuer)
    assert (await bc_authorize(http, unsigned(claims), hint))[0] == 401
    # PS256 is a fine algorithm, but not the one this client registered.
    assert (await bc_authorize(http, signer.sign({**claims, "jti": "x1"}, alg="PS256"), hint))[0] == 401
    # An HMAC "signed" with the public key (the classic confusion attack).
    forged = hmac_sign(str(signer.jwks["keys"][0]["n"]), {**claims, "jti": "x2"})
    assert (await bc_authorize(http, forged, hint))[0] == 401


async def test_a_key_of_someone_else_does_not_verify(http, gateway, hint) -> None:
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks=ClientSigner("ES256").jwks)
    impostor = ClientSigner("ES256")
    status, _, _ = await bc_authorize(http, impostor.sign(assertion_claims(client["client_id"], gateway.issuer),
                                                          kid=False), hint)
    assert status == 401


async def test_a_client_may_only_use_its_registered_method(http, gateway, hint) -> None:
    signer = ClientSigner("ES256")
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks)
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": hint,
                                                      "client_id": client["client_id"],
                                                      "client_secret": client["client_secret"]})
    assert response.status == 401
    basic = await register_raw(http)
    claims = assertion_claims(basic["client_id"], gateway.issuer)
    assert (await bc_authorize(http, hmac_sign(basic["client_secret"], claims), hint))[0] == 401


async def test_the_assertion_type_must_be_jwt_bearer(http, gateway, hint) -> None:
    signer = ClientSigner("ES256")
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks)
    assertion = signer.sign(assertion_claims(client["client_id"], gateway.issuer))
    status, body, _ = await bc_authorize(http, assertion, hint, client_assertion_type="urn:other")
    assert (status, body["error"]) == (401, "invalid_client")


async def test_keys_are_fetched_from_jwks_uri_and_refetched_on_an_unknown_kid(http, gateway, hint, jwks_server) -> None:
    first, second = ClientSigner("RS256"), ClientSigner("ES256")
    jwks_server.document = first.jwks
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks_uri=jwks_server.url)
    claims = assertion_claims(client["client_id"], gateway.issuer)
    assert (await bc_authorize(http, first.sign(claims), hint))[0] == 200
    assert jwks_server.fetches == 1
    # The client rotates to a new key: one early refetch finds it.
    jwks_server.document = second.jwks
    gateway.client_keys._min_refetch = 0  # the test does not wait out the refetch guard
    claims = assertion_claims(client["client_id"], gateway.issuer)
    assert (await bc_authorize(http, second.sign(claims), hint))[0] == 200
    assert jwks_server.fetches == 2


@pytest.mark.parametrize("metadata", [
    {"token_endpoint_auth_method": "private_key_jwt"},
    {"token_endpoint_auth_method": "private_key_jwt", "jwks": ClientSigner("ES256").jwks,
     "token_endpoint_auth_signing_alg": "HS256"},
    {"token_endpoint_auth_method": "client_secret_jwt", "token_endpoint_auth_signing_alg": "RS256"},
    {"token_endpoint_auth_method": "none"},
])
async def test_registration_refuses_inconsistent_jwt_auth_metadata(http, metadata) -> None:
    response = await http.post("/register", json={
        "grant_types": [CIBA_GRANT], "backchannel_token_delivery_mode": "poll", **metadata})
    assert (await response.json())["error"] == "invalid_client_metadata"


async def test_the_secret_of_a_client_secret_jwt_client_is_stored_encrypted(http, gateway) -> None:
    client = await register_raw(http, token_endpoint_auth_method="client_secret_jwt")
    stored = await gateway.rt.pool.fetchval(
        "SELECT row_to_json(c)::text FROM clients c WHERE client_id = $1", client["client_id"])
    assert client["client_secret"] not in stored


async def test_a_jwks_uri_on_a_private_ip_literal_is_refused_at_registration_and_never_fetched(
        http, gateway, hint, jwks_server) -> None:
    refused = await http.post("/register", json={
        "grant_types": [CIBA_GRANT], "backchannel_token_delivery_mode": "poll",
        "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://169.254.169.254/keys"})
    assert (await refused.json())["error"] == "invalid_client_metadata"
    # Loopback is allowed in development (the test's own jwks_uri); forbid it and it is never fetched.
    signer = ClientSigner("ES256")
    jwks_server.document = signer.jwks
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks_uri=jwks_server.url)
    strict = create_session(ca_bundle=None, user_agent="test",
                            policy=lambda: AddressPolicy(allow_private=False, allow_loopback=False))
    gateway.client_keys._http, relaxed = strict, gateway.client_keys._http
    try:
        status, body, _ = await bc_authorize(
            http, signer.sign(assertion_claims(client["client_id"], gateway.issuer)), hint)
    finally:
        gateway.client_keys._http = relaxed
        await strict.close()
    assert (status, body["error"]) == (401, "invalid_client")
    assert jwks_server.fetches == 0
    assert "127.0.0.1" not in body["error_description"] and "HTTP" not in body["error_description"]


async def test_every_unauthenticated_failure_reads_the_same_so_client_ids_cannot_be_enumerated(
        http, gateway, hint, clock) -> None:
    """An unknown client_id, a client registered for another method, a bad signature, an expired
    assertion and a wrong secret all get one answer: nothing tells whether a client exists or
    how it authenticates."""
    signer = ClientSigner("ES256")
    pkj = await register_raw(http, token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks)
    basic = await register_raw(http)
    now = clock.now().timestamp()
    attempts = {
        "unknown client, assertion": signer.sign(assertion_claims("no-such-client", gateway.issuer)),
        "client registered for client_secret_basic": hmac_sign(
            basic["client_secret"], assertion_claims(basic["client_id"], gateway.issuer)),
        "someone else's key": ClientSigner("ES256").sign(assertion_claims(pkj["client_id"], gateway.issuer),
                                                         kid=False),
        "expired": signer.sign(assertion_claims(pkj["client_id"], gateway.issuer, now=now - 600)),
    }
    answers = {}
    for case, assertion in attempts.items():
        status, body, headers = await bc_authorize(http, assertion, hint)
        answers[case] = (status, body, headers["WWW-Authenticate"])
    for case, client_id, secret in [("unknown client, secret", "no-such-client", "x"),
                                    ("wrong secret", basic["client_id"], "not-the-secret")]:
        response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": hint},
                                   headers=Client(client_id, secret).basic)
        answers[case] = (response.status, await response.json(), response.headers["WWW-Authenticate"])
    expected = (401, {"error": "invalid_client", "error_description": "client authentication failed"},
                'Basic realm="ciba", error="invalid_client"')
    assert {case: answer for case, answer in answers.items() if answer != expected} == {}
