"""Secrets at rest: encryption, keyed hashes, random tokens, constant-time comparison.

One ``Secrets`` object per process, built from CIBA_SECRET_KEY. Two keys are derived from it
so that the encryption key never doubles as the hashing key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken


def new_token(nbytes: int = 32) -> str:
    """A CSPRNG token in url-safe base64 without padding: only A-Z a-z 0-9 - _. It never
    starts with "-", so it can be passed to command-line tools (ciba-admin request show)
    without being read as an option; that costs 0.02 bits of the token's entropy."""
    while True:
        token = secrets.token_urlsafe(nbytes)
        if not token.startswith("-"):
            return token


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


class DecryptionError(Exception):
    """A stored ciphertext did not decrypt under CIBA_SECRET_KEY (wrong key or tampering)."""


class Secrets:
    def __init__(self, secret_key: bytes) -> None:
        master = base64.urlsafe_b64decode(secret_key)
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(master, b"ciba/encrypt")))
        self._hash_key = _derive(master, b"ciba/hash")

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str, *, ttl: int | None = None) -> str:
        """Decrypt; with ``ttl``, refuse ciphertext older than that many seconds."""
        try:
            return self._fernet.decrypt(ciphertext.encode(), ttl=ttl).decode()
        except InvalidToken as exc:
            raise DecryptionError("stored secret does not decrypt under CIBA_SECRET_KEY") from exc

    def hash(self, value: str) -> bytes:
        """Keyed hash (HMAC-SHA256) of a high-entropy secret that is only ever compared.

        Client secrets, auth_req_ids, refresh tokens and device-page references are random
        values of 160 bits or more, so a fast keyed hash is enough; a slow password hash
        would only cost latency on every request.
        """
        return hmac.new(self._hash_key, value.encode(), hashlib.sha256).digest()

    def verify_hash(self, value: str, expected: bytes) -> bool:
        return hmac.compare_digest(self.hash(value), expected)


def _derive(master: bytes, label: bytes) -> bytes:
    return hmac.new(master, label, hashlib.sha256).digest()
