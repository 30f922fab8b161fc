"""Client authentication at the provider's endpoints (RFC 6749 2.3, RFC 7523, OIDC Core 9).

One class per ``token_endpoint_auth_method``; use the one the client registered (providers
accept only that one). The same object authenticates at the backchannel authentication,
token, revocation and introspection endpoints.

Assertions (``client_secret_jwt``, ``private_key_jwt``) carry iss = sub = client_id, a fresh
``jti`` (providers refuse a replayed one), ``iat`` and an ``exp`` a minute ahead. Their ``aud``
is the issuer by default (draft-ietf-oauth-rfc7523bis recommends it: one unambiguous audience
leaves no room for audience-injection attacks); ``audience="endpoint"`` sends the endpoint's
URL instead, for providers that want RFC 7523's original choice.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol
from urllib.parse import quote

from joserfc import jwt
from joserfc.jwk import OctKey

from ciba_client.keys import ClientKey, new_jti, now

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_SEC = 60
HMAC_ALGS = ("HS256", "HS384", "HS512")
Audience = Literal["issuer", "endpoint"]


class ClientAuth(Protocol):
    """Adds the client's credentials to one request, as ``method`` prescribes."""

    method: ClassVar[str]

    def apply(self, client_id: str, *, issuer: str, endpoint: str, form: dict[str, str],
              headers: dict[str, str]) -> None: ...


@dataclass(frozen=True)
class ClientSecretBasic:
    """HTTP Basic; both parts form-urlencoded first, as RFC 6749 2.3.1 requires."""

    secret: str = field(repr=False)
    method: ClassVar[str] = "client_secret_basic"

    def apply(self, client_id: str, *, issuer: str, endpoint: str, form: dict[str, str],
              headers: dict[str, str]) -> None:
        raw = f"{quote(client_id, safe='')}:{quote(self.secret, safe='')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class ClientSecretPost:
    """``client_id`` and ``client_secret`` in the form body."""

    secret: str = field(repr=False)
    method: ClassVar[str] = "client_secret_post"

    def apply(self, client_id: str, *, issuer: str, endpoint: str, form: dict[str, str],
              headers: dict[str, str]) -> None:
        form["client_id"] = client_id
        form["client_secret"] = self.secret


def assertion_claims(client_id: str, audience: str) -> dict[str, object]:
    """RFC 7523 3: the claims of a client assertion."""
    issued = now()
    return {"iss": client_id, "sub": client_id, "aud": audience, "jti": new_jti(), "iat": issued,
            "exp": issued + ASSERTION_LIFETIME_SEC}


def _audience(choice: Audience, issuer: str, endpoint: str) -> str:
    return issuer if choice == "issuer" else endpoint


def _add_assertion(form: dict[str, str], assertion: str) -> None:
    form["client_assertion_type"] = JWT_BEARER
    form["client_assertion"] = assertion


@dataclass(frozen=True)
class ClientSecretJwt:
    """An assertion HMAC-signed with the client secret (HS256, HS384 or HS512)."""

    secret: str = field(repr=False)
    alg: str = "HS256"
    audience: Audience = "issuer"
    method: ClassVar[str] = "client_secret_jwt"

    def __post_init__(self) -> None:
        if self.alg not in HMAC_ALGS:
            raise ValueError(f"alg must be one of {', '.join(HMAC_ALGS)}")

    def apply(self, client_id: str, *, issuer: str, endpoint: str, form: dict[str, str],
              headers: dict[str, str]) -> None:
        claims = assertion_claims(client_id, _audience(self.audience, issuer, endpoint))
        key = OctKey.import_key(self.secret.encode())
        _add_assertion(form, jwt.encode({"alg": self.alg, "typ": "JWT"}, claims, key, algorithms=[self.alg]))


@dataclass(frozen=True)
class PrivateKeyJwt:
    """An assertion signed with the client's private key; the provider holds the public one
    (the client's registered ``jwks`` or ``jwks_uri``). The same key can sign authentication
    requests (``CibaClient(..., sign_requests=True)``)."""

    key: ClientKey
    audience: Audience = "issuer"
    method: ClassVar[str] = "private_key_jwt"

    def apply(self, client_id: str, *, issuer: str, endpoint: str, form: dict[str, str],
              headers: dict[str, str]) -> None:
        _add_assertion(form, self.key.sign(assertion_claims(client_id, _audience(self.audience, issuer, endpoint))))
