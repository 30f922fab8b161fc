"""Verifying JWTs that clients send us: client assertions (RFC 7523), signed authentication
requests (CIBA Core 7.1.1) and login_hint_tokens. Signatures are checked with joserfc
against an explicit algorithm allow-list (``none`` is never on it); the claims are checked
here with the injected clock, so tests move time instead of sleeping."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, OctKey

LEEWAY_SEC = 30
# RFC 7519 4.1: NumericDate claims. Python's json reads NaN and Infinity, which no clock compares.
NUMERIC_DATE_CLAIMS = ("exp", "iat", "nbf")


class JwtRejected(Exception):
    """Why a JWT was refused, worded for the client."""


class UnknownKeyId(JwtRejected):
    """No key with the token's kid: the client may have rotated its keys."""


@dataclass(frozen=True)
class Unverified:
    header: dict[str, Any]
    claims: dict[str, Any]


def peek(token: str) -> Unverified:
    """Header and claims before the signature is checked: only to pick the key and client."""
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError, TypeError):
        raise JwtRejected("not a well-formed signed JWT") from None
    if not isinstance(claims, dict):
        raise JwtRejected("the JWT payload is not a JSON object")
    return Unverified(dict(compact.headers()), claims)


def verify(token: str, key: KeySet | OctKey, algorithms: list[str]) -> dict[str, Any]:
    """The claims, once the signature verifies with one of ``algorithms``."""
    alg = peek(token).header.get("alg")
    if alg not in algorithms:
        raise JwtRejected(f"alg {alg!r} is not accepted here; accepted: {' '.join(algorithms)}")
    try:
        claims = dict(jwt.decode(token, key, algorithms=algorithms).claims)
    except InvalidKeyIdError:
        raise UnknownKeyId("no key of the client matches the JWT's kid") from None
    except (JoseError, ValueError, TypeError) as exc:
        raise JwtRejected(f"the JWT signature does not verify ({type(exc).__name__})") from None
    for name in NUMERIC_DATE_CLAIMS:
        _number(claims, name, required=False)
    return claims


def _number(claims: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise JwtRejected(f"the JWT has no {name} claim")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise JwtRejected(f"the JWT's {name} claim is not a number")
    return int(value)


@dataclass(frozen=True)
class Lifetime:
    exp: int
    iat: int | None
    nbf: int | None


def check_lifetime(claims: dict[str, Any], now: datetime, *, max_lifetime: int,
                   require_iat: bool = False, require_nbf: bool = False) -> Lifetime:
    """exp in the future; iat and nbf not in the future; exp no further than ``max_lifetime``
    seconds from nbf (or iat, or now)."""
    current = int(now.timestamp())
    exp = _number(claims, "exp", required=True)
    iat = _number(claims, "iat", required=require_iat)
    nbf = _number(claims, "nbf", required=require_nbf)
    assert exp is not None
    if exp <= current - LEEWAY_SEC:
        raise JwtRejected("the JWT has expired")
    if nbf is not None and nbf > current + LEEWAY_SEC:
        raise JwtRejected("the JWT is not valid yet (nbf is in the future)")
    if iat is not None and iat > current + LEEWAY_SEC:
        raise JwtRejected("the JWT was issued in the future (iat)")
    start = nbf if nbf is not None else iat if iat is not None else current
    if exp - start > max_lifetime:
        raise JwtRejected(f"the JWT lives longer than {max_lifetime} seconds")
    return Lifetime(exp, iat, nbf)


def check_audience(claims: dict[str, Any], accepted: set[str]) -> None:
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a in accepted for a in audiences):
        raise JwtRejected(f"the JWT's aud must be {' or '.join(sorted(accepted))}")


def require_string(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise JwtRejected(f"the JWT has no {name} claim")
    return value
