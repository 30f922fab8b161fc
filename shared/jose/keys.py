"""Signing keys: generated on first start, kept in Postgres with the private part encrypted
under CIBA_SECRET_KEY, published (public parts only) at /jwks.

One RSA key serves RS256 and PS256, one P-256 key serves ES256. The kid is the key's RFC 7638
thumbprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from joserfc.jwk import ECKey, KeySet, RSAKey

from shared.crypto import Secrets
from shared.repositories import keys as keys_repo
from shared.repositories.keys import StoredKey

KEYS_LOCK_ID = 0x43_49_42_41_5F_4B_45_59  # "CIBA_KEY"
ALG_KTY = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC"}
SUPPORTED_SIGNING_ALGS = tuple(ALG_KTY)


def generate(kty: str, now: datetime, secrets: Secrets) -> StoredKey:
    key: RSAKey | ECKey
    if kty == "RSA":
        key = RSAKey.generate_key(2048, auto_kid=True)
    else:
        key = ECKey.generate_key("P-256", auto_kid=True)
    public = key.as_dict(private=False)
    public["use"] = "sig"
    if kty == "EC":
        public["alg"] = "ES256"
    private_pem = key.as_pem(private=True).decode()
    return StoredKey(
        kid=key.kid or key.thumbprint(), kty=kty, public_jwk=public,
        private_key_enc=secrets.encrypt(private_pem), status="active", created_at=now,
    )


async def ensure_signing_keys(conn: asyncpg.Connection, secrets: Secrets, now: datetime) -> list[str]:
    """Create an active RSA and EC key if there is none; replicas serialise on a lock."""
    created = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", KEYS_LOCK_ID)
        active = {key.kty for key in await keys_repo.list_keys(conn, status="active")}
        for kty in ("RSA", "EC"):
            if kty not in active:
                key = generate(kty, now, secrets)
                await keys_repo.insert(conn, key)
                created.append(key.kid)
    return created


@dataclass(frozen=True)
class SigningKey:
    kid: str
    kty: str
    key: RSAKey | ECKey


class KeyRing:
    """The keys a process signs with (newest active key per type) and the public JWKS."""

    def __init__(self, stored: list[StoredKey], secrets: Secrets) -> None:
        self._signing: dict[str, SigningKey] = {}
        public = []
        for item in stored:
            public.append(item.public_jwk)
            if item.status != "active":
                continue
            pem = secrets.decrypt(item.private_key_enc)
            key: RSAKey | ECKey = (
                RSAKey.import_key(pem, parameters={"kid": item.kid})
                if item.kty == "RSA"
                else ECKey.import_key(pem, parameters={"kid": item.kid})
            )
            self._signing[item.kty] = SigningKey(item.kid, item.kty, key)  # newest wins
        self._public_jwks: dict[str, Any] = {"keys": public}
        self._verify_set = KeySet.import_key_set(self._public_jwks)  # type: ignore[arg-type]

    def signing_key(self, alg: str) -> SigningKey:
        try:
            return self._signing[ALG_KTY[alg]]
        except KeyError:
            raise LookupError(f"no active signing key for {alg}") from None

    @property
    def public_jwks(self) -> dict[str, Any]:
        return self._public_jwks

    @property
    def verify_set(self) -> KeySet:
        return self._verify_set


async def load_keyring(conn: asyncpg.Connection | asyncpg.Pool, secrets: Secrets) -> KeyRing:
    return KeyRing(await keys_repo.list_keys(conn), secrets)
