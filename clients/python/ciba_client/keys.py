"""The relying party's own signing key: for ``private_key_jwt`` assertions (RFC 7523) and
signed authentication requests (CIBA Core 7.1.1).

The provider verifies with the public half, registered as the client's ``jwks`` (or served
at its ``jwks_uri``): ``ClientKey.public_jwks()`` is that document.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

ASYMMETRIC_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
_KTY_FOR_ALG = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
_CURVE_FOR_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
SigningKey = RSAKey | ECKey


def import_jwk_or_pem(data: bytes | dict[str, Any], kty: str) -> SigningKey:
    """An RSA or EC key from a PEM or a JWK, of the type the algorithm needs."""
    return RSAKey.import_key(data) if kty == "RSA" else ECKey.import_key(data)


def kty_for(alg: str) -> str:
    try:
        return _KTY_FOR_ALG[alg[:2]]
    except KeyError:
        raise ValueError(f"{alg} is not an asymmetric JWS algorithm") from None


@dataclass(frozen=True)
class ClientKey:
    """A private key, the algorithm it signs with, and its ``kid`` (the RFC 7638 thumbprint
    unless given), so the provider finds the right key after the client rotates."""

    key: SigningKey = field(repr=False)
    alg: str = "PS256"
    kid: str = ""

    def __post_init__(self) -> None:
        if self.alg not in ASYMMETRIC_ALGS:
            raise ValueError(f"alg must be one of {', '.join(ASYMMETRIC_ALGS)}")
        if self.key.key_type != kty_for(self.alg):
            raise ValueError(f"a {self.key.key_type} key cannot sign {self.alg}")
        if not self.key.is_private:
            raise ValueError("a signing key must include its private part")
        if not self.kid:
            object.__setattr__(self, "kid", self.key.kid or self.key.thumbprint())

    @classmethod
    def generate(cls, alg: str = "PS256") -> ClientKey:
        """A fresh key for ``alg``: RSA 2048 for RS*/PS*, the matching curve for ES*."""
        key: SigningKey = RSAKey.generate_key(2048) if kty_for(alg) == "RSA" else \
            ECKey.generate_key(_CURVE_FOR_ALG[alg])
        return cls(key, alg)

    @classmethod
    def from_pem(cls, pem: str | bytes, alg: str = "PS256", *, kid: str = "") -> ClientKey:
        return cls(import_jwk_or_pem(pem.encode() if isinstance(pem, str) else pem, kty_for(alg)), alg, kid)

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any], alg: str | None = None) -> ClientKey:
        chosen = alg or jwk.get("alg") or "PS256"
        return cls(import_jwk_or_pem(jwk, kty_for(chosen)), chosen, jwk.get("kid", ""))

    def public_jwk(self) -> dict[str, Any]:
        public = dict(self.key.as_dict(private=False))
        public.update({"kid": self.kid, "use": "sig", "alg": self.alg})
        return public

    def public_jwks(self) -> dict[str, Any]:
        """The JWK Set to register as the client's ``jwks``."""
        return {"keys": [self.public_jwk()]}

    def sign(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        header = {"alg": self.alg, "kid": self.kid, "typ": typ}
        return jwt.encode(header, claims, self.key, algorithms=[self.alg])


def new_jti() -> str:
    """A single-use JWT id: providers refuse a jti seen before within the JWT's lifetime."""
    return uuid.uuid4().hex


def now() -> int:
    return int(time.time())
