"""Secrets at rest: encryption, keyed hashes, random tokens, constant-time comparison.

One ``Secrets`` object per process, built from CIBA_SECRET_KEYS (or the one-key form,
CIBA_SECRET_KEY). Two keys are derived from each master key so that the encryption key never
doubles as the hashing key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


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
    """A stored ciphertext did not decrypt under any of the master keys (wrong key or tampering)."""


class Secrets:
    """Encryption and keyed hashes under the master keys, newest first (CIBA_SECRET_KEYS).

    Encryption uses the newest key and decryption tries each (MultiFernet). A keyed hash is
    computed under the newest key for storing (``hash``), and under each key for looking up
    (``hashes``): during a rotation a value stored under the previous key is still found, and
    ``ciba-admin secrets rekey`` re-hashes what it can under the newest one."""

    def __init__(self, secret_keys: bytes | list[bytes]) -> None:
        keys = [secret_keys] if isinstance(secret_keys, bytes) else list(secret_keys)
        if not keys:
            raise ValueError("at least one master key is needed")
        masters = [base64.urlsafe_b64decode(key) for key in keys]
        self._fernets = [Fernet(base64.urlsafe_b64encode(_derive(master, b"ciba/encrypt"))) for master in masters]
        self._fernet = MultiFernet(self._fernets)
        self._hash_keys = [_derive(master, b"ciba/hash") for master in masters]

    @property
    def key_count(self) -> int:
        return len(self._hash_keys)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str, *, ttl: int | None = None) -> str:
        """Decrypt; with ``ttl``, refuse ciphertext older than that many seconds."""
        try:
            return self._fernet.decrypt(ciphertext.encode(), ttl=ttl).decode()
        except InvalidToken as exc:
            raise DecryptionError("stored secret does not decrypt under the master keys") from exc

    def under_newest_key(self, ciphertext: str) -> bool:
        """Whether ``ciphertext`` is already encrypted under the newest key."""
        try:
            self._fernets[0].decrypt(ciphertext.encode())
        except InvalidToken:
            return False
        return True

    def reencrypt(self, ciphertext: str) -> str:
        """The same plaintext under the newest key (its original timestamp kept)."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise DecryptionError("stored secret does not decrypt under the master keys") from exc

    def hash(self, value: str) -> bytes:
        """Keyed hash (HMAC-SHA256), under the newest key, of a high-entropy secret that is only
        ever compared.

        Client secrets, auth_req_ids, refresh tokens and device-page references are random
        values of 160 bits or more, so a fast keyed hash is enough; a slow password hash
        would only cost latency on every request.
        """
        return hmac.new(self._hash_keys[0], value.encode(), hashlib.sha256).digest()

    def hashes(self, value: str) -> list[bytes]:
        """The keyed hash of ``value`` under each master key, newest first: what a look-up
        searches for (one element outside a rotation)."""
        return [hmac.new(key, value.encode(), hashlib.sha256).digest() for key in self._hash_keys]

    def verify_hash(self, value: str, expected: bytes) -> bool:
        """Whether ``expected`` is ``value``'s hash under one of the keys."""
        return self.matching_key(value, expected) is not None

    def matching_key(self, value: str, expected: bytes) -> int | None:
        """Which key (0: the newest) ``expected`` is ``value``'s hash under, or None; every key
        is tried, so the time taken does not tell which matched."""
        matched = None
        for index, candidate in enumerate(self.hashes(value)):
            if hmac.compare_digest(candidate, expected) and matched is None:
                matched = index
        return matched


def _derive(master: bytes, label: bytes) -> bytes:
    return hmac.new(master, label, hashlib.sha256).digest()
