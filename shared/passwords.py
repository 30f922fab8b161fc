"""Secrets people choose (passwords, user codes): argon2id, with the operator's parameters.

The defaults are argon2-cffi's (RFC 9106's second recommended option: 3 passes over 64 MiB,
4 lanes), about 150 ms of one core each. A stored hash carries its own parameters, so
changing them affects new hashes only and every existing hash still verifies.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4


class Passwords:
    def __init__(self, params: Argon2Params | None = None) -> None:
        params = params or Argon2Params()
        self._hasher = PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib,
                                      parallelism=params.parallelism)
        self._dummy_hash: str | None = None

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, stored_hash: str | None, secret: str) -> bool:
        """Whether ``secret`` matches. Without a stored hash (unknown user, no code set) a
        dummy hash made with the same parameters is verified anyway, so the answer takes as
        long either way."""
        if stored_hash is None and self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("not-a-real-password")
        try:
            return self._hasher.verify(stored_hash or self._dummy_hash or "", secret) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False


def hash_password(password: str) -> str:
    """A hash with the default parameters (the operator CLI and tests use the configured
    ``Passwords`` where it matters)."""
    return Passwords().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    return Passwords().verify(password_hash, password)
