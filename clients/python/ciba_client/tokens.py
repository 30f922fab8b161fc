"""Token responses and id_token verification (OIDC Core 3.1.3.7, CIBA Core 10.1.1 and 10.3.1).

An id_token is accepted only when its signature verifies with a key of the issuer's JWKS (the
keys are cached, and fetched again once when a token names a ``kid`` the cache lacks, so the
provider can rotate), its ``iss`` is the issuer, its ``aud`` names this client, it has not
expired, and every hash binding it to the other tokens matches: ``at_hash`` to the access
token, ``rt_hash`` to the refresh token, ``urn:openid:params:jwt:claim:auth_req_id`` to the
request. Push delivery requires all three (CIBA 10.3.1), because the push arrives at an
endpoint anyone can call and only these bindings prove the tokens belong together.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from ciba_client.errors import CibaError, InvalidIdToken, KeysUnavailable, UnexpectedResponse
from ciba_client.keys import ASYMMETRIC_ALGS, import_jwk_or_pem, kty_for

AUTH_REQ_ID_CLAIM = "urn:openid:params:jwt:claim:auth_req_id"
DEFAULT_LEEWAY_SEC = 60
JWKS_REFRESH_FLOOR_SEC = 30  # an unknown kid refetches the JWKS at most this often
_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def half_hash(value: str, alg: str) -> str:
    """at_hash / rt_hash (OIDC Core 3.1.3.6, CIBA 10.3.1): the left half of the hash of the
    token's ASCII octets, with the hash of the id_token's ``alg``, base64url without padding."""
    try:
        digest = _HASHES[alg[-3:]](value.encode("ascii")).digest()
    except KeyError:
        raise InvalidIdToken(f"no hash is defined for alg {alg}") from None
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class TokenResponse:
    """A successful token response (RFC 6749 5.1, CIBA 10.1.1), or a pushed one (10.3.1).
    ``claims`` are the id_token's claims, verified. Tokens are left out of ``repr`` so that
    logging the object never logs a credential."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int | None
    scope: str | None
    claims: Mapping[str, Any]
    id_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    auth_req_id: str | None = field(default=None, repr=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @staticmethod
    def parse(body: Mapping[str, Any]) -> dict[str, Any]:
        """The fields of a response body, checked for type (the claims are added once verified)."""
        def text(name: str, *, required: bool = False) -> str | None:
            value = body.get(name)
            if value is None and not required:
                return None
            if not isinstance(value, str) or not value:
                raise UnexpectedResponse(f"the token response has no valid {name}")
            return value

        expires_in = body.get("expires_in")
        if expires_in is not None and (isinstance(expires_in, bool) or not isinstance(expires_in, int)):
            raise UnexpectedResponse("the token response's expires_in is not an integer")
        token_type = text("token_type", required=True) or ""
        if token_type.lower() != "bearer":
            raise UnexpectedResponse(f"unsupported token_type {token_type}")
        return {"access_token": text("access_token", required=True), "token_type": token_type,
                "expires_in": expires_in, "scope": text("scope"), "id_token": text("id_token"),
                "refresh_token": text("refresh_token"), "auth_req_id": text("auth_req_id"), "raw": dict(body)}

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple((self.scope or "").split())


Fetch = Callable[[str], Awaitable[Mapping[str, Any]]]


class IssuerKeys:
    """The issuer's published keys (its ``jwks_uri``), cached. A token naming an unknown kid
    fetches them again, at most once per JWKS_REFRESH_FLOOR_SEC, so a flood of forged kids
    cannot turn into a flood of requests to the provider."""

    def __init__(self, jwks_uri: str, fetch: Fetch, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.jwks_uri = jwks_uri
        self._fetch = fetch
        self._clock = clock
        self._keys: list[RSAKey | ECKey] | None = None
        self._fetched_at = -math.inf
        self._lock = asyncio.Lock()

    async def keys(self, *, refresh: bool = False) -> list[RSAKey | ECKey]:
        async with self._lock:
            stale = refresh and self._clock() - self._fetched_at >= JWKS_REFRESH_FLOOR_SEC
            if self._keys is None or stale:
                try:
                    self._keys = _import_jwks(await self._fetch(self.jwks_uri))
                except (OSError, TimeoutError, aiohttp.ClientError, CibaError) as exc:
                    raise KeysUnavailable(f"the issuer's JWKS could not be read ({type(exc).__name__})") from exc
                self._fetched_at = self._clock()
            return self._keys


def _import_jwks(doc: Mapping[str, Any]) -> list[RSAKey | ECKey]:
    entries = doc.get("keys")
    if not isinstance(entries, list):
        raise UnexpectedResponse("the issuer's JWKS has no keys")
    keys: list[RSAKey | ECKey] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") not in ("RSA", "EC") or entry.get("use") == "enc":
            continue
        try:
            keys.append(import_jwk_or_pem(entry, entry["kty"]))
        except (JoseError, ValueError, TypeError, KeyError):
            continue  # one malformed key does not hide the others
    return keys


def _candidates(keys: list[RSAKey | ECKey], header: Mapping[str, Any]) -> list[RSAKey | ECKey]:
    kid = header.get("kid")
    kty = kty_for(str(header.get("alg")))
    return [k for k in keys if k.key_type == kty and (kid is None or k.kid == kid)]


async def verify_signature(token: str, keys: IssuerKeys, algorithms: tuple[str, ...]
                           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims once the signature verifies with an issuer key and an allowed alg."""
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        header = dict(compact.headers())
    except (JoseError, ValueError, UnicodeError, TypeError):
        raise InvalidIdToken("the id_token is not a well-formed JWS") from None
    alg = header.get("alg")
    if alg not in algorithms or alg not in ASYMMETRIC_ALGS:  # never none, never an HMAC the client could forge
        raise InvalidIdToken(f"the id_token's alg {alg!r} is not accepted (accepted: {', '.join(algorithms)})")
    candidates = _candidates(await keys.keys(), header)
    if not candidates and header.get("kid") is not None:  # rotated since we fetched: look once more
        candidates = _candidates(await keys.keys(refresh=True), header)
    for key in candidates:
        try:
            return header, dict(jwt.decode(token, key, algorithms=[str(alg)]).claims)
        except (JoseError, ValueError, TypeError):
            continue
    raise InvalidIdToken("the id_token's signature does not verify with the issuer's keys")


def _numeric(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidIdToken(f"the id_token's {name} is missing or not a number")
    return float(value)


def _same(a: str, b: object) -> bool:
    return isinstance(b, str) and hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class Bindings:
    """What the id_token must be bound to, and whether each binding is required."""

    access_token: str | None = None
    refresh_token: str | None = None
    auth_req_id: str | None = None
    push: bool = False  # CIBA 10.3.1: auth_req_id, at_hash, and rt_hash with a refresh token


def check_claims(claims: Mapping[str, Any], alg: str, *, issuer: str, client_id: str, bindings: Bindings,
                 now: float, leeway: int = DEFAULT_LEEWAY_SEC) -> None:
    """OIDC Core 3.1.3.7 (iss, aud, azp, exp, iat) and the hashes of CIBA 10.3.1."""
    if claims.get("iss") != issuer:
        raise InvalidIdToken("the id_token's iss is not the issuer")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        raise InvalidIdToken("the id_token's aud does not name this client")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise InvalidIdToken("the id_token has several audiences and its azp is not this client")
    if _numeric(claims, "exp") <= now - leeway:
        raise InvalidIdToken("the id_token has expired")
    if _numeric(claims, "iat") > now + leeway:
        raise InvalidIdToken("the id_token was issued in the future")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidIdToken("the id_token has no sub")
    _check_hash(claims, "at_hash", bindings.access_token, alg, required=bindings.push)
    _check_hash(claims, "rt_hash", bindings.refresh_token, alg, required=bindings.push)
    if bindings.auth_req_id is not None or bindings.push:
        if not _same(bindings.auth_req_id or "", claims.get(AUTH_REQ_ID_CLAIM)):
            raise InvalidIdToken(f"the id_token's {AUTH_REQ_ID_CLAIM} is not this request's auth_req_id")


def _check_hash(claims: Mapping[str, Any], name: str, token: str | None, alg: str, *, required: bool) -> None:
    if token is None:
        return
    if name not in claims:
        if required:
            raise InvalidIdToken(f"the id_token has no {name}")
        return
    if not _same(half_hash(token, alg), claims[name]):
        raise InvalidIdToken(f"the id_token's {name} does not match the token it was issued with")


async def verify_id_token(id_token: str, *, keys: IssuerKeys, issuer: str, client_id: str,
                          algorithms: tuple[str, ...], bindings: Bindings, leeway: int = DEFAULT_LEEWAY_SEC,
                          now: float | None = None) -> dict[str, Any]:
    """The verified claims of ``id_token``; InvalidIdToken when any check fails."""
    header, claims = await verify_signature(id_token, keys, algorithms)
    check_claims(claims, str(header["alg"]), issuer=issuer, client_id=client_id, bindings=bindings,
                 now=time.time() if now is None else now, leeway=leeway)
    return claims

