"""Signing keys: generated on first start, kept in Postgres with the private part encrypted
under CIBA_SECRET_KEY, published (public parts only) at /jwks.

One RSA key serves RS256 and PS256, one P-256 key serves ES256. The kid is the key's RFC 7638
thumbprint.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from joserfc.jwk import ECKey, KeySet, RSAKey

from shared.clock import Clock, SystemClock
from shared.crypto import Secrets
from shared.db import Connection
from shared.db.listener import PgListener
from shared.logging import get_logger
from shared.repositories import keys as keys_repo
from shared.repositories.keys import StoredKey

KEYS_LOCK_ID = 0x43_49_42_41_5F_4B_45_59  # "CIBA_KEY"
log = get_logger("ciba.keys")
ALG_KTY = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC"}
SUPPORTED_SIGNING_ALGS = tuple(ALG_KTY)


def generate(kty: str, now: datetime, secrets: Secrets, *, activates_at: datetime | None = None) -> StoredKey:
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
        activates_at=activates_at or now,
    )


class KeyChangeRefused(Exception):
    """A rotation or retirement that would leave an algorithm without a key to sign with."""


async def rotate(conn: Connection, secrets: Secrets, alg: str, *, now: datetime,
                 prepublish_sec: int) -> StoredKey:
    """A new key for ``alg``'s key type: published at once, signing after ``prepublish_sec``."""
    if alg not in ALG_KTY:
        raise KeyChangeRefused(f"{alg} is not one of {', '.join(ALG_KTY)}")
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", KEYS_LOCK_ID)
        key = generate(ALG_KTY[alg], now, secrets, activates_at=now + timedelta(seconds=prepublish_sec))
        await keys_repo.insert(conn, key)
    return key


async def retire(conn: Connection, kid: str, *, now: datetime, retire_after_sec: int) -> StoredKey:
    """Stop signing with ``kid`` now; it leaves /jwks (and verification) after
    ``retire_after_sec``. Refused while it is the only active key of its type: tokens of
    that type could then not be signed at all."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", KEYS_LOCK_ID)
        stored = {key.kid: key for key in await keys_repo.list_keys(conn)}
        key = stored.get(kid)
        if key is None or key.status != "active":
            raise KeyChangeRefused(f"no active key {kid!r}")
        others = [k for k in stored.values() if k.kty == key.kty and k.kid != kid and k.state(now) == "active"]
        if not others:
            raise KeyChangeRefused(f"{kid} is the only {key.kty} key that signs: run `keys rotate` and let the new "
                                   "key activate first")
        await keys_repo.retire(conn, kid, leaves_at=now + timedelta(seconds=retire_after_sec))
    return next(k for k in await keys_repo.list_keys(conn) if k.kid == kid)


async def ensure_signing_keys(conn: Connection, secrets: Secrets, now: datetime) -> list[str]:
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


@dataclass(frozen=True)
class _View:
    """The key ring at one moment: what signs, what is published; valid until ``until``."""

    signing: dict[str, StoredKey]
    public_jwks: dict[str, Any]
    verify_set: KeySet
    until: datetime | None


class KeyRing:
    """The keys a process signs with and publishes, as of the clock's now.

    A key is published from its creation and signs from ``activates_at`` (the newest active
    key of each type signs); a retired key stops signing at once and leaves the JWKS, and
    verification, at ``retired_at``. Those moments pass without any notification, so the view
    is recomputed when the clock reaches the next one; ``replace`` takes a reloaded list."""

    def __init__(self, stored: list[StoredKey], secrets: Secrets, clock: Clock | None = None) -> None:
        self._secrets = secrets
        self._clock = clock or SystemClock()
        self._private: dict[str, SigningKey] = {}  # decrypted once per kid
        self._view: _View | None = None
        self._changed = asyncio.Event()
        self.replace(stored)

    def replace(self, stored: list[StoredKey]) -> None:
        self._stored = stored
        self._view = None

    @property
    def stored(self) -> list[StoredKey]:
        return self._stored

    def _current(self) -> _View:
        now = self._clock.now()
        view = self._view
        if view is None or (view.until is not None and now >= view.until):
            view = self._view = self._compute(now)
        return view

    def _compute(self, now: datetime) -> _View:
        signing: dict[str, StoredKey] = {}
        public = []
        moments = []
        for item in self._stored:
            state = item.state(now)
            if state == "retired":
                continue
            public.append(item.public_jwk)
            if state == "active":
                best = signing.get(item.kty)
                if best is None or (item.activates_at or item.created_at) >= (best.activates_at or best.created_at):
                    signing[item.kty] = item
            moments += [t for t in (item.activates_at, item.retired_at) if t is not None and t > now]
        jwks: dict[str, Any] = {"keys": public}
        return _View(signing, jwks, KeySet.import_key_set(jwks), min(moments, default=None))  # type: ignore[arg-type]

    def signing_key(self, alg: str) -> SigningKey:
        stored = self._current().signing.get(ALG_KTY.get(alg, ""))
        if stored is None:
            raise LookupError(f"no active signing key for {alg}")
        key = self._private.get(stored.kid)
        if key is None:
            pem = self._secrets.decrypt(stored.private_key_enc)
            imported: RSAKey | ECKey = (
                RSAKey.import_key(pem, parameters={"kid": stored.kid}) if stored.kty == "RSA"
                else ECKey.import_key(pem, parameters={"kid": stored.kid}))
            key = self._private[stored.kid] = SigningKey(stored.kid, stored.kty, imported)
        return key

    @property
    def public_jwks(self) -> dict[str, Any]:
        return self._current().public_jwks

    @property
    def verify_set(self) -> KeySet:
        return self._current().verify_set

    def attach(self, listener: PgListener) -> None:
        """Reload on every key change (NOTIFY ciba_keys), and after a reconnect."""
        listener.subscribe(keys_repo.KEYS_CHANNEL, lambda _payload: self._changed.set())
        listener.on_reconnect(self._changed.set)

    async def watch(self, pool: asyncpg.Pool, *, fallback_interval: float = 30.0) -> None:
        """Run until cancelled: reload when notified, or when the table's fingerprint moved
        (a notification missed while the LISTEN connection was down)."""
        fingerprint = await keys_repo.version(pool)
        while True:
            notified = False
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=fallback_interval)
                notified = True
            self._changed.clear()
            current = await keys_repo.version(pool)
            if notified or current != fingerprint:
                self.replace(await keys_repo.list_keys(pool))
                fingerprint = current
                log.info("signing_keys_reloaded", kids=[k.kid for k in self._stored])


async def load_keyring(conn: Connection | asyncpg.Pool, secrets: Secrets,
                       clock: Clock | None = None) -> KeyRing:
    return KeyRing(await keys_repo.list_keys(conn), secrets, clock)
