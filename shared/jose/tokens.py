"""Token minting and checking.

- id_token: a JWS (RS256 by default, or the client's id_token_signed_response_alg) with iss,
  sub, aud, exp, iat, auth_time and acr where known.
- access token: a JWT per RFC 9068 (``typ: at+jwt``), RS256, audience the issuer. A resource
  server verifies it against /jwks without calling us; /userinfo also checks that it was not
  revoked.
- refresh token: opaque, random, stored as a keyed hash (see shared.domain.token_issuance).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from shared.errors import InvalidToken
from shared.jose.keys import SUPPORTED_SIGNING_ALGS, KeyRing

ACCESS_TOKEN_ALG = "RS256"
_HASH_FOR_ALG = {"RS256": hashlib.sha256, "PS256": hashlib.sha256, "ES256": hashlib.sha256}


def sign(keyring: KeyRing, alg: str, claims: dict[str, Any], *, typ: str = "JWT") -> str:
    key = keyring.signing_key(alg)
    header = {"alg": alg, "kid": key.kid, "typ": typ}
    return jwt.encode(header, claims, key.key, algorithms=list(SUPPORTED_SIGNING_ALGS))


def half_hash(value: str, alg: str) -> str:
    """at_hash / rt_hash (OIDC Core 3.1.3.6, CIBA 10.3.1): left half of the hash, base64url."""
    digest = _HASH_FOR_ALG[alg](value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def id_token_claims(*, issuer: str, client_id: str, sub: str, now: datetime, lifetime: int,
                    auth_time: datetime | None, acr: str | None,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    iat = int(now.timestamp())
    claims: dict[str, Any] = {"iss": issuer, "sub": sub, "aud": client_id, "iat": iat,
                              "exp": iat + lifetime}
    if auth_time is not None:
        claims["auth_time"] = int(auth_time.timestamp())
    if acr:
        claims["acr"] = acr
    claims.update(extra or {})
    return claims


def access_token_claims(*, issuer: str, client_id: str, sub: str, scope: list[str], jti: str,
                        now: datetime, lifetime: int, auth_time: datetime | None,
                        acr: str | None, cnf: dict[str, Any] | None = None,
                        authorization_details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """RFC 9068 section 2.2; ``cnf`` binds the token to the client's certificate or DPoP key
    (RFC 8705 3.1, RFC 9449 6.1); ``authorization_details`` are the grant's (RFC 9396 9.1)."""
    iat = int(now.timestamp())
    claims: dict[str, Any] = {"iss": issuer, "aud": issuer, "sub": sub, "client_id": client_id,
                              "iat": iat, "exp": iat + lifetime, "jti": jti,
                              "scope": " ".join(scope)}
    if auth_time is not None:
        claims["auth_time"] = int(auth_time.timestamp())
    if acr:
        claims["acr"] = acr
    if cnf:
        claims["cnf"] = cnf
    if authorization_details:
        claims["authorization_details"] = authorization_details
    return claims


def verify_access_token(keyring: KeyRing, token: str, *, issuer: str, now: datetime) -> dict[str, Any]:
    """Signature, typ, issuer, audience and expiry; raises InvalidToken otherwise."""
    try:
        decoded = jwt.decode(token, keyring.verify_set, algorithms=[ACCESS_TOKEN_ALG])
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidToken("the access token is malformed or its signature does not verify") from exc
    claims = decoded.claims
    if decoded.header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
        raise InvalidToken("not an access token")
    if claims.get("iss") != issuer or claims.get("aud") != issuer:
        raise InvalidToken("the access token was not issued for this server")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now.timestamp():
        raise InvalidToken("the access token has expired")
    return claims
