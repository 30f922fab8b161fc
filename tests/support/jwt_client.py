"""What a relying party does with JOSE: its own keys (generated in the test), client
assertions (RFC 7523) and signed authentication requests (CIBA Core 7.1.1)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

ALL_ALGS = ["RS256", "PS256", "ES256", "HS256", "HS384", "HS512"]


class ClientSigner:
    def __init__(self, alg: str = "PS256") -> None:
        self.alg = alg
        self.key = ECKey.generate_key("P-256", auto_kid=True) if alg.startswith("ES") else \
            RSAKey.generate_key(2048, auto_kid=True)

    @property
    def jwks(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        public["use"] = "sig"
        return {"keys": [public]}

    def sign(self, claims: dict[str, Any], *, alg: str | None = None, kid: bool = True) -> str:
        header = {"alg": alg or self.alg}
        if kid:
            header["kid"] = self.key.kid
        return jwt.encode(header, claims, self.key, algorithms=ALL_ALGS)


def hmac_sign(secret: str, claims: dict[str, Any], alg: str = "HS256") -> str:
    return jwt.encode({"alg": alg}, claims, OctKey.import_key(secret.encode()), algorithms=ALL_ALGS)


def assertion_claims(client_id: str, audience: str, *, now: float | None = None, lifetime: int = 60,
                     **overrides: Any) -> dict[str, Any]:
    issued = int(now if now is not None else time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": issued, "exp": issued + lifetime,
              "jti": uuid.uuid4().hex}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def request_claims(client_id: str, issuer: str, *, now: float | None = None, lifetime: int = 300,
                   **params: Any) -> dict[str, Any]:
    issued = int(now if now is not None else time.time())
    claims = {"iss": client_id, "aud": issuer, "iat": issued, "nbf": issued, "exp": issued + lifetime,
              "jti": uuid.uuid4().hex, "scope": "openid"}
    claims.update(params)
    return {k: v for k, v in claims.items() if v is not None}


def unsigned(claims: dict[str, Any]) -> str:
    """An ``alg: none`` JWT, which must never be accepted."""
    import base64
    import json

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."
