"""What a DPoP client (RFC 9449) holds: a key pair, and proofs made with it."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_KEYS: dict[str, ECKey | RSAKey] = {}


def _key(alg: str) -> ECKey | RSAKey:
    """One key per alg for the module (an RSA key takes a while to make)."""
    if alg not in _KEYS:
        curve = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}.get(alg)
        _KEYS[alg] = ECKey.generate_key(curve) if curve else RSAKey.generate_key(2048)
    return _KEYS[alg]


class DpopKey:
    """What a DPoP client holds: a key pair, and proofs made with it."""

    def __init__(self, alg: str = "ES256", *, fresh: bool = True) -> None:
        self.alg = alg
        self.key = ECKey.generate_key("P-256") if fresh and alg == "ES256" else _key(alg)

    @property
    def jkt(self) -> str:
        return self.key.thumbprint()

    def proof(self, htm: str, htu: str, *, iat: float, access_token: str | None = None, nonce: str | None = None,
              header: dict[str, Any] | None = None, drop: tuple[str, ...] = (), signer: Any = None,
              **claims: Any) -> str:
        """A proof; ``header`` members set to None are left out, ``claims`` replace the usual ones."""
        protected = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.key.as_dict(private=False), **(header or {})}
        protected = {name: value for name, value in protected.items() if value is not None}
        body: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": htm, "htu": htu, "iat": int(iat)}
        if access_token is not None:
            body["ath"] = b64(hashlib.sha256(access_token.encode()).digest())
        if nonce is not None:
            body["nonce"] = nonce
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        registry = JWSRegistry(algorithms=[protected["alg"]], strict_check_header=False)
        registry.header_registry.pop("jwk")  # let a test put anything there
        return jws.serialize_compact(protected, json.dumps(body).encode(), signer or self.key, registry=registry)
