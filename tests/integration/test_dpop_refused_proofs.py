"""DPoP (RFC 9449) proofs refused: each rule of proof validation at /token (4.3), two DPoP
headers, and at /userinfo (7.1) a proof for another request, token (ath) or key."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import OctKey, RSAKey

from tests.integration.dpop_support import TOKEN_URL, USERINFO_URL, _bound_tokens, _now, _token, _userinfo
from tests.support.dpop import DpopKey, b64
from tests.support.gateway_client import CIBA_GRANT, register

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
