"""Token minting and checking: at_hash, the claims of id_token and access token (OIDC Core 2,
RFC 9068 2.2), and the access-token check a resource server relies on."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from shared.clock import FrozenClock
from shared.crypto import Secrets
from shared.errors import InvalidToken
from shared.jose.keys import KeyRing, generate
from shared.jose.tokens import (
    access_token_claims,
    half_hash,
    id_token_claims,
    sign,
    verify_access_token,
)

ISSUER = "https://as.example.com"
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def secrets() -> Secrets:
    return Secrets(Fernet.generate_key())


@pytest.fixture(scope="module")
def keyring(secrets: Secrets) -> KeyRing:
    return KeyRing([generate("RSA", NOW, secrets), generate("EC", NOW, secrets)], secrets, FrozenClock(NOW))


@pytest.fixture(scope="module")
def other_keyring(secrets: Secrets) -> KeyRing:
    return KeyRing([generate("RSA", NOW, secrets)], secrets, FrozenClock(NOW))


def access_claims(**overrides) -> dict:
    claims = access_token_claims(issuer=ISSUER, client_id="client-1", sub="user-1",
                                 scope=["openid", "email"], jti="jti-1", now=NOW, lifetime=3600,
                                 auth_time=NOW - timedelta(seconds=30), acr="pwd")
    return {**claims, **overrides}


def segments(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    return decode(header), decode(payload)


def test_half_hash_matches_the_oidc_core_example():
    # OIDC Core 1.0, Appendix A.3 (at_hash) and A.4 (c_hash).
    assert half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "RS256") == "77QmUPtjPfzWtF2AnpK9RQ"
    assert half_hash("Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk",
                     "RS256") == "LDktKdoQak3Pk0cnXxCltA"


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_half_hash_is_the_left_half_of_sha256_in_base64url(alg):
    token = "a-refresh-token_with.chars~"
    left_half = hashlib.sha256(token.encode()).digest()[:16]

    assert half_hash(token, alg) == base64.urlsafe_b64encode(left_half).decode().rstrip("=")


def test_id_token_claims_contain_the_required_claims():
    claims = id_token_claims(issuer=ISSUER, client_id="client-1", sub="user-1", now=NOW,
                             lifetime=600, auth_time=NOW - timedelta(seconds=10), acr="mfa",
                             extra={"at_hash": "x", "urn:openid:params:jwt:claim:auth_req_id": "r"})

    iat = int(NOW.timestamp())
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "user-1"
    assert claims["aud"] == "client-1"
    assert claims["iat"] == iat
    assert claims["exp"] == iat + 600
    assert claims["auth_time"] == iat - 10
    assert claims["acr"] == "mfa"
    assert claims["at_hash"] == "x"
    assert claims["urn:openid:params:jwt:claim:auth_req_id"] == "r"


def test_id_token_claims_leave_out_unknown_auth_time_and_acr():
    claims = id_token_claims(issuer=ISSUER, client_id="c", sub="s", now=NOW, lifetime=60,
                             auth_time=None, acr=None)

    assert set(claims) == {"iss", "sub", "aud", "iat", "exp"}


def test_access_token_claims_contain_the_rfc9068_claims():
    claims = access_claims()

    iat = int(NOW.timestamp())
    assert {"iss", "exp", "aud", "sub", "client_id", "iat", "jti"} <= set(claims)
    assert claims["iss"] == claims["aud"] == ISSUER
    assert claims["client_id"] == "client-1"
    assert claims["sub"] == "user-1"
    assert claims["exp"] == iat + 3600
    assert claims["jti"] == "jti-1"
    assert claims["scope"] == "openid email"
    assert claims["auth_time"] == iat - 30
    assert claims["acr"] == "pwd"


def test_signed_access_token_verifies_and_returns_its_claims(keyring):
    token = sign(keyring, "RS256", access_claims(), typ="at+jwt")

    header, _ = segments(token)
    assert header == {"alg": "RS256", "kid": keyring.signing_key("RS256").kid, "typ": "at+jwt"}
    assert verify_access_token(keyring, token, issuer=ISSUER, now=NOW) == access_claims()


def test_verify_accepts_a_token_until_just_before_exp(keyring):
    token = sign(keyring, "RS256", access_claims(), typ="at+jwt")

    assert verify_access_token(keyring, token, issuer=ISSUER, now=NOW + timedelta(seconds=3599))


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_signed_id_token_names_its_key(keyring, alg):
    token = sign(keyring, alg, {"iss": ISSUER, "sub": "s"})

    header, payload = segments(token)
    assert header["alg"] == alg
    assert header["kid"] == keyring.signing_key(alg).kid
    assert header["kid"] in {key["kid"] for key in keyring.public_jwks["keys"]}
    assert payload == {"iss": ISSUER, "sub": "s"}


def test_public_jwks_has_no_private_parts(keyring):
    private_members = {"d", "p", "q", "dp", "dq", "qi"}

    assert all(not private_members & set(key) for key in keyring.public_jwks["keys"])
    assert {key["kty"] for key in keyring.public_jwks["keys"]} == {"RSA", "EC"}


def _tamper_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    return f"{header}.{payload}.{flipped}"


def _tamper_payload(token: str) -> str:
    header, _, signature = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps(access_claims(sub="admin")).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


def _unsecured(claims: dict) -> str:
    encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")  # noqa: E731
    return f"{encode({'alg': 'none', 'typ': 'at+jwt'})}.{encode(claims)}."


@pytest.mark.parametrize(
    ("case", "make_token", "now"),
    [
        ("expired", lambda kr, okr: sign(kr, "RS256", access_claims(), typ="at+jwt"),
         NOW + timedelta(seconds=3600)),
        ("long expired", lambda kr, okr: sign(kr, "RS256", access_claims(), typ="at+jwt"),
         NOW + timedelta(days=2)),
        ("wrong issuer", lambda kr, okr: sign(kr, "RS256", access_claims(iss="https://evil.example"),
                                             typ="at+jwt"), NOW),
        ("wrong audience", lambda kr, okr: sign(kr, "RS256", access_claims(aud="client-1"),
                                               typ="at+jwt"), NOW),
        ("id_token typ", lambda kr, okr: sign(kr, "RS256", access_claims()), NOW),
        ("real id_token", lambda kr, okr: sign(kr, "RS256", id_token_claims(
            issuer=ISSUER, client_id="client-1", sub="user-1", now=NOW, lifetime=3600,
            auth_time=None, acr=None)), NOW),
        ("not RS256", lambda kr, okr: sign(kr, "ES256", access_claims(), typ="at+jwt"), NOW),
        ("tampered signature", lambda kr, okr: _tamper_signature(
            sign(kr, "RS256", access_claims(), typ="at+jwt")), NOW),
        ("tampered payload", lambda kr, okr: _tamper_payload(
            sign(kr, "RS256", access_claims(), typ="at+jwt")), NOW),
        ("unknown key", lambda kr, okr: sign(okr, "RS256", access_claims(), typ="at+jwt"), NOW),
        ("exp missing", lambda kr, okr: sign(kr, "RS256", {k: v for k, v in access_claims().items()
                                                          if k != "exp"}, typ="at+jwt"), NOW),
        ("alg none", lambda kr, okr: _unsecured(access_claims()), NOW),
        ("not a jwt", lambda kr, okr: "not.a.jwt", NOW),
        ("empty", lambda kr, okr: "", NOW),
        ("unsigned", lambda kr, okr: ".".join(sign(kr, "RS256", access_claims(), typ="at+jwt")
                                              .split(".")[:2]) + ".", NOW),
    ],
)
def test_verify_access_token_refuses_with_invalid_token(keyring, other_keyring, case, make_token, now):
    token = make_token(keyring, other_keyring)

    with pytest.raises(InvalidToken) as refused:
        verify_access_token(keyring, token, issuer=ISSUER, now=now)
    assert refused.value.status == 401


def test_signing_with_an_algorithm_without_a_key_is_a_lookup_error(other_keyring):
    with pytest.raises(LookupError):
        sign(other_keyring, "ES256", {"sub": "s"})
