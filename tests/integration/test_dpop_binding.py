"""DPoP (RFC 9449): a proof at /token binds the access token to the client's key (cnf.jkt,
token_type DPoP); /userinfo then wants Authorization: DPoP and a proof of that key for the
request and the token (ath). Each rule of proof validation (RFC 9449 4.3), jti replay, the
server nonce (RFC 9449 8, 9), dpop_bound_access_tokens (5.2), introspection (6.2) and refresh."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import OctKey, RSAKey

from services.gateway.dpop import DPOP_ALGS, NONCE_WINDOW_SEC, normalise_uri
from services.request_processor import housekeeping
from shared.errors import InvalidDpopProof, UseDpopNonce
from tests.integration.conftest import ISSUER
from tests.support.dpop import DpopKey, b64
from tests.support.gateway_client import CIBA_GRANT, Client, add_user, decide, register, server_property

TOKEN_URL = f"{ISSUER}/token"
USERINFO_URL = f"{ISSUER}/userinfo"
def _now(gateway) -> float:
    return gateway.rt.clock.now().timestamp()


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def _approved(http, gateway, client: Client) -> str:
    user = await add_user(gateway)
    answer = await http.post("/bc-authorize", data={"scope": "openid email", "login_hint": user.username},
                             headers=client.basic)
    auth_req_id = (await answer.json())["auth_req_id"]
    await decide(gateway, auth_req_id, approved=True)
    return auth_req_id


async def _token(http, client: Client, proof: str | None, **form: str):
    data = {"grant_type": CIBA_GRANT, "auth_req_id": "no-such-request", **form}
    headers = {**client.basic, **({"DPoP": proof} if proof is not None else {})}
    response = await http.post("/token", data=data, headers=headers)
    return response, await response.json()


async def _bound_tokens(http, gateway, client: Client, key: DpopKey) -> dict[str, Any]:
    auth_req_id = await _approved(http, gateway, client)
    response, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway)),
                                  auth_req_id=auth_req_id)
    assert response.status == 200, body
    return body


async def _userinfo(http, gateway, key: DpopKey, token: str, *, scheme: str = "DPoP", method: str = "GET",
                    proof: str | None = None):
    proof = proof if proof is not None else key.proof(method, USERINFO_URL, iat=_now(gateway), access_token=token)
    response = await http.request(method, "/userinfo", headers={"Authorization": f"{scheme} {token}", "DPoP": proof})
    return response, await response.json()


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


# --- Proofs refused at /token (RFC 9449 4.3) ------------------------------------------------------


def _private_jwk(key: DpopKey) -> dict[str, Any]:
    return key.key.as_dict(private=True)


def _unsigned(key: DpopKey, now: float) -> str:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": key.key.as_dict(private=False)}
    claims = {"jti": uuid.uuid4().hex, "htm": "POST", "htu": TOKEN_URL, "iat": int(now)}
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


def _hs256(key: DpopKey, now: float) -> str:
    secret = OctKey.generate_key(256)
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": key.key.as_dict(private=False)}
    claims = {"jti": uuid.uuid4().hex, "htm": "POST", "htu": TOKEN_URL, "iat": int(now)}
    return jws.serialize_compact(header, json.dumps(claims).encode(), secret, algorithms=["HS256"])


BAD_PROOFS = {
    "wrong htm": lambda k, now: k.proof("GET", TOKEN_URL, iat=now),
    "wrong htu": lambda k, now: k.proof("POST", USERINFO_URL, iat=now),
    "another host in htu": lambda k, now: k.proof("POST", "https://elsewhere.example/token", iat=now),
    "old iat": lambda k, now: k.proof("POST", TOKEN_URL, iat=now - 61),
    "future iat": lambda k, now: k.proof("POST", TOKEN_URL, iat=now + 60),
    "iat not a number": lambda k, now: k.proof("POST", TOKEN_URL, iat=now, drop=("iat",), issued="now"),
    "iat a string": lambda k, now: _with_claims(k, now, iat=str(int(now))),
    "no jti": lambda k, now: k.proof("POST", TOKEN_URL, iat=now, drop=("jti",)),
    "no htm": lambda k, now: k.proof("POST", TOKEN_URL, iat=now, drop=("htm",)),
    "alg none": lambda k, now: _unsigned(k, now),
    "HS256": lambda k, now: _hs256(k, now),
    "private key in jwk": lambda k, now: k.proof("POST", TOKEN_URL, iat=now, header={"jwk": _private_jwk(k)}),
    "another key's signature": lambda k, now: k.proof("POST", TOKEN_URL, iat=now, signer=DpopKey().key),
    "typ JWT": lambda k, now: k.proof("POST", TOKEN_URL, iat=now, header={"typ": "JWT"}),
    "no jwk": lambda k, now: k.proof("POST", TOKEN_URL, iat=now, header={"jwk": None}),
    "symmetric jwk": lambda k, now: k.proof("POST", TOKEN_URL, iat=now,
                                            header={"jwk": {"kty": "oct", "k": b64(b"0" * 32)}}),
    "RSA key under 2048 bits": lambda k, now: _small_rsa(now),
    "not a JWT": lambda k, now: "not-a-jwt",
    "garbage in three parts": lambda k, now: "a.b.c",
}


def _with_claims(key: DpopKey, now: float, **claims: Any) -> str:
    body = {"jti": uuid.uuid4().hex, "htm": "POST", "htu": TOKEN_URL, "iat": int(now), **claims}
    header = {"typ": "dpop+jwt", "alg": key.alg, "jwk": key.key.as_dict(private=False)}
    return jws.serialize_compact(header, json.dumps(body).encode(), key.key, algorithms=[key.alg])


def _small_rsa(now: float) -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small = RSAKey.generate_key(1024)
        header = {"typ": "dpop+jwt", "alg": "RS256", "jwk": small.as_dict(private=False)}
        claims = {"jti": uuid.uuid4().hex, "htm": "POST", "htu": TOKEN_URL, "iat": int(now)}
        return jws.serialize_compact(header, json.dumps(claims).encode(), small, algorithms=["RS256"])


@pytest.mark.parametrize("case", list(BAD_PROOFS))
async def test_a_bad_proof_is_refused_at_token(http, gateway, case) -> None:
    client, key = await register(http), DpopKey()
    proof = BAD_PROOFS[case](key, _now(gateway))
    response, body = await _token(http, client, proof)
    assert (response.status, body["error"]) == (400, "invalid_dpop_proof"), body
    assert response.headers["Cache-Control"] == "no-store"


async def test_two_dpop_headers_are_refused(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    proof = key.proof("POST", TOKEN_URL, iat=_now(gateway))
    response = await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": "x"},
                               headers=[*client.basic.items(), ("DPoP", proof), ("DPoP", proof)])
    assert (response.status, (await response.json())["error"]) == (400, "invalid_dpop_proof")


# --- Proofs refused at /userinfo (RFC 9449 7.1) ------------------------------------------------------


@pytest.mark.parametrize(("case", "error"), [
    ("wrong ath", "invalid_dpop_proof"),
    ("no ath", "invalid_dpop_proof"),
    ("wrong htm", "invalid_dpop_proof"),
    ("wrong htu", "invalid_dpop_proof"),
    ("old iat", "invalid_dpop_proof"),
    ("another key", "invalid_token"),
])
async def test_a_bad_proof_is_refused_at_userinfo(http, gateway, case, error) -> None:
    client, key = await register(http), DpopKey()
    token = (await _bound_tokens(http, gateway, client, key))["access_token"]
    now = _now(gateway)
    proof = {
        "wrong ath": lambda: key.proof("GET", USERINFO_URL, iat=now, access_token=token + "x"),
        "no ath": lambda: key.proof("GET", USERINFO_URL, iat=now),
        "wrong htm": lambda: key.proof("POST", USERINFO_URL, iat=now, access_token=token),
        "wrong htu": lambda: key.proof("GET", TOKEN_URL, iat=now, access_token=token),
        "old iat": lambda: key.proof("GET", USERINFO_URL, iat=now - 120, access_token=token),
        "another key": lambda: DpopKey().proof("GET", USERINFO_URL, iat=now, access_token=token),
    }[case]()
    response, body = await _userinfo(http, gateway, key, token, proof=proof)
    assert (response.status, body["error"]) == (401, error), body
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("DPoP ") and f'error="{error}"' in challenge and 'algs="' in challenge


# --- Replay (RFC 9449 11.1) -----------------------------------------------------------------------------


async def test_a_replayed_proof_is_refused_at_token(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    proof = key.proof("POST", TOKEN_URL, iat=_now(gateway))
    first, body = await _token(http, client, proof)
    assert body["error"] == "invalid_grant"  # the proof passed
    again, body = await _token(http, client, proof)
    assert (again.status, body["error"]) == (400, "invalid_dpop_proof")
    assert "already used" in body["error_description"]


async def test_a_proof_sent_twice_at_once_is_accepted_once(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    proof = key.proof("POST", TOKEN_URL, iat=_now(gateway))
    answers = await asyncio.gather(*[_token(http, client, proof) for _ in range(4)])
    assert sorted(body["error"] for _, body in answers) == ["invalid_dpop_proof"] * 3 + ["invalid_grant"]


async def test_a_replayed_proof_is_refused_at_userinfo(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    token = (await _bound_tokens(http, gateway, client, key))["access_token"]
    proof = key.proof("GET", USERINFO_URL, iat=_now(gateway), access_token=token)
    first, _ = await _userinfo(http, gateway, key, token, proof=proof)
    again, body = await _userinfo(http, gateway, key, token, proof=proof)
    assert (first.status, again.status, body["error"]) == (200, 401, "invalid_dpop_proof")


async def test_the_same_jti_from_another_key_is_not_a_replay(http, gateway) -> None:
    client, mine, theirs = await register(http), DpopKey(), DpopKey()
    now = _now(gateway)
    first, body = await _token(http, client, theirs.proof("POST", TOKEN_URL, iat=now, jti="shared-jti"))
    second, other = await _token(http, client, mine.proof("POST", TOKEN_URL, iat=now, jti="shared-jti"))
    assert (body["error"], other["error"]) == ("invalid_grant", "invalid_grant")


async def test_housekeeping_forgets_proofs_once_their_iat_refuses_them(http, gateway, clock) -> None:
    client, key = await register(http), DpopKey()
    await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway)))
    count = "SELECT count(*) FROM dpop_proofs WHERE jkt = $1"
    assert await gateway.rt.pool.fetchval(count, key.jkt) == 1
    clock.advance(gateway.rt.config.dpopProofMaxAgeSec + 1)
    await housekeeping.clean_once(gateway.rt)
    assert await gateway.rt.pool.fetchval(count, key.jkt) == 0


# --- The server nonce (RFC 9449 8, 9) ----------------------------------------------------------------


async def test_with_nonces_required_a_proof_without_one_gets_use_dpop_nonce_then_succeeds(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    auth_req_id = await _approved(http, gateway, client)
    async with server_property(gateway, "dpopNonceRequired", True):
        response, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway)),
                                      auth_req_id=auth_req_id)
        assert (response.status, body["error"]) == (400, "use_dpop_nonce")
        nonce = response.headers["DPoP-Nonce"]

        made_up, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway), nonce="x" * 43),
                                     auth_req_id=auth_req_id)
        assert body["error"] == "use_dpop_nonce"

        response, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway), nonce=nonce),
                                      auth_req_id=auth_req_id)
        assert response.status == 200 and body["token_type"] == "DPoP", body
        assert response.headers["DPoP-Nonce"]  # every answer to a DPoP request carries one
        token = body["access_token"]

        refused, body = await _userinfo(http, gateway, key, token)
        assert (refused.status, body["error"]) == (401, "use_dpop_nonce")
        assert 'error="use_dpop_nonce"' in refused.headers["WWW-Authenticate"]
        nonce = refused.headers["DPoP-Nonce"]
        proof = key.proof("GET", USERINFO_URL, iat=_now(gateway), access_token=token, nonce=nonce)
        accepted, _ = await _userinfo(http, gateway, key, token, proof=proof)
        assert accepted.status == 200 and accepted.headers["DPoP-Nonce"]


async def test_a_nonce_lasts_one_more_window_and_no_longer(http, gateway, clock) -> None:
    client, key = await register(http), DpopKey()
    async with server_property(gateway, "dpopNonceRequired", True):
        response, _ = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway)))
        nonce = response.headers["DPoP-Nonce"]
        clock.advance(NONCE_WINDOW_SEC)
        _, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway), nonce=nonce))
        assert body["error"] == "invalid_grant"  # the previous window's nonce still passes
        clock.advance(NONCE_WINDOW_SEC)
        _, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway), nonce=nonce))
        assert body["error"] == "use_dpop_nonce"


async def test_without_nonces_required_no_nonce_is_handed_out(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    response, _ = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway)))
    assert "DPoP-Nonce" not in response.headers


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
