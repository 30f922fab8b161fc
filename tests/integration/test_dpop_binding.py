"""DPoP (RFC 9449): a proof at /token binds the access token to the client's key (cnf.jkt,
token_type DPoP); /userinfo then wants Authorization: DPoP and a proof of that key for the
request and the token (ath). Also dpop_bound_access_tokens (5.2), discovery, introspection (6.2),
refresh, the configured proof age and how the DPoP errors render."""

from __future__ import annotations

import pytest

from services.gateway.dpop import DPOP_ALGS, normalise_uri
from shared.errors import InvalidDpopProof, UseDpopNonce
from tests.integration.dpop_support import TOKEN_URL, _approved, _bound_tokens, _claims, _now, _token, _userinfo
from tests.support.dpop import DpopKey
from tests.support.gateway_client import CIBA_GRANT, register, server_property

# --- /token binds, /userinfo checks ----------------------------------------------------------------


async def test_a_proof_at_token_binds_the_access_token_to_the_key(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    body = await _bound_tokens(http, gateway, client, key)
    assert body["token_type"] == "DPoP"
    assert _claims(body["access_token"])["cnf"] == {"jkt": key.jkt}

    response, claims = await _userinfo(http, gateway, key, body["access_token"])
    assert response.status == 200, claims
    assert claims["sub"] and "email" in claims
    post, _ = await _userinfo(http, gateway, key, body["access_token"], method="POST")
    assert post.status == 200


async def test_without_a_proof_the_token_stays_a_bearer_token(http, gateway) -> None:
    client = await register(http)
    response, body = await _token(http, client, None, auth_req_id=await _approved(http, gateway, client))
    assert response.status == 200 and body["token_type"] == "Bearer"
    assert "cnf" not in _claims(body["access_token"])
    key = DpopKey()  # an unbound token must not be presented as DPoP either
    refused, error = await _userinfo(http, gateway, key, body["access_token"])
    assert (refused.status, error["error"]) == (401, "invalid_token")
    assert refused.headers["WWW-Authenticate"].startswith("DPoP ")


async def test_a_dpop_bound_token_presented_as_bearer_or_without_a_proof_is_refused(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    token = (await _bound_tokens(http, gateway, client, key))["access_token"]

    as_bearer, body = await _userinfo(http, gateway, key, token, scheme="Bearer")
    assert (as_bearer.status, body["error"]) == (401, "invalid_token")
    challenge = as_bearer.headers["WWW-Authenticate"]
    assert challenge.startswith("DPoP ") and 'error="invalid_token"' in challenge
    assert 'algs="' in challenge and "ES256" in challenge and "HS256" not in challenge

    no_proof = await http.get("/userinfo", headers={"Authorization": f"DPoP {token}"})
    assert (no_proof.status, (await no_proof.json())["error"]) == (401, "invalid_dpop_proof")
    assert 'error="invalid_dpop_proof"' in no_proof.headers["WWW-Authenticate"]


@pytest.mark.parametrize("alg", ["ES256", "ES384", "PS256", "RS256"])
async def test_each_supported_algorithm_is_accepted(http, gateway, alg) -> None:
    client, key = await register(http), DpopKey(alg, fresh=False)
    response, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway)))
    assert (response.status, body["error"]) == (400, "invalid_grant"), body  # past the proof, to the made-up grant


async def test_htu_is_compared_without_query_and_after_normalisation(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    htu = TOKEN_URL.replace("http://", "HTTP://") + "?x=1#frag"
    response, body = await _token(http, client, key.proof("POST", htu, iat=_now(gateway)))
    assert body["error"] == "invalid_grant", body


@pytest.mark.parametrize(("uri", "normalised"), [
    ("https://AS.example/token", "https://as.example/token"),
    ("https://as.example:443/token?x=1#y", "https://as.example/token"),
    ("http://as.example:8080/%7euser/%2f", "http://as.example:8080/~user/%2F"),
    ("https://as.example", "https://as.example/"),
    ("ftp://as.example/token", None),
    ("not a uri", None),
])
def test_normalise_uri(uri, normalised) -> None:
    assert normalise_uri(uri) == normalised


# --- Client metadata (RFC 9449 5.2), push, discovery, introspection, refresh --------------------------


async def test_a_dpop_bound_access_tokens_client_must_send_a_proof(http, gateway) -> None:
    client = await register(http, dpop_bound_access_tokens=True)
    auth_req_id = await _approved(http, gateway, client)
    response, body = await _token(http, client, None, auth_req_id=auth_req_id)
    assert (response.status, body["error"]) == (400, "invalid_dpop_proof")
    key = DpopKey()
    response, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway)),
                                  auth_req_id=auth_req_id)
    assert response.status == 200 and body["token_type"] == "DPoP"


async def test_a_push_client_cannot_register_dpop_bound_access_tokens(http) -> None:
    response = await http.post("/register", json={
        "backchannel_token_delivery_mode": "push", "grant_types": [CIBA_GRANT],
        "backchannel_client_notification_endpoint": "https://rp.example/cb", "dpop_bound_access_tokens": True})
    body = await response.json()
    assert (response.status, body["error"]) == (400, "invalid_client_metadata")
    assert "dpop_bound_access_tokens" in body["error_description"]


async def test_discovery_lists_the_proof_algorithms(http) -> None:
    doc = await (await http.get("/.well-known/openid-configuration")).json()
    algs = doc["dpop_signing_alg_values_supported"]
    assert {"RS256", "PS256", "ES256"} <= set(algs) and set(algs) == set(DPOP_ALGS)
    assert not [alg for alg in algs if alg == "none" or alg.startswith("HS")]


async def test_introspection_reports_the_binding(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    token = (await _bound_tokens(http, gateway, client, key))["access_token"]
    described = await (await http.post("/introspect", data={"token": token}, headers=client.basic)).json()
    assert described["active"] is True
    assert (described["token_type"], described["cnf"]) == ("DPoP", {"jkt": key.jkt})


async def test_a_refresh_with_a_proof_binds_the_new_access_token(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    issued = await _bound_tokens(http, gateway, client, key)
    new_key = DpopKey()  # a confidential client's refresh token is not bound: the key may change (RFC 9449 5)
    response = await http.post("/token", data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
                               headers={**client.basic, "DPoP": new_key.proof("POST", TOKEN_URL, iat=_now(gateway))})
    refreshed = await response.json()
    assert response.status == 200, refreshed
    assert refreshed["token_type"] == "DPoP"
    assert _claims(refreshed["access_token"])["cnf"] == {"jkt": new_key.jkt}
    ok, _ = await _userinfo(http, gateway, new_key, refreshed["access_token"])
    old_key, _ = await _userinfo(http, gateway, key, refreshed["access_token"])
    assert (ok.status, old_key.status) == (200, 401)


async def test_a_proof_older_than_the_configured_age_is_refused(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    async with server_property(gateway, "dpopProofMaxAgeSec", 300):
        _, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway) - 200))
        assert body["error"] == "invalid_grant"
        _, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway) - 301))
        assert body["error"] == "invalid_dpop_proof"


def test_the_dpop_errors_render_as_rfc_9449_says() -> None:
    at_token = InvalidDpopProof("bad")
    assert (at_token.status, at_token.headers(), at_token.body()["error"]) == (400, {}, "invalid_dpop_proof")
    at_resource = InvalidDpopProof("bad", resource_algs="ES256 PS256")
    assert at_resource.status == 401
    assert at_resource.headers() == {"WWW-Authenticate": 'DPoP realm="ciba", error="invalid_dpop_proof", '
                                                         'algs="ES256 PS256"'}
    nonce = UseDpopNonce("n-1")
    assert (nonce.status, nonce.headers(), nonce.body()["error"]) == (400, {"DPoP-Nonce": "n-1"}, "use_dpop_nonce")
    assert UseDpopNonce("n-1", resource_algs="ES256").headers() == {
        "WWW-Authenticate": 'DPoP realm="ciba", error="use_dpop_nonce", algs="ES256"', "DPoP-Nonce": "n-1"}
