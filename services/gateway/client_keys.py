"""The public keys of a client: its registered ``jwks``, or its ``jwks_uri`` fetched and cached.

A fetched set is cached for ``ttl`` seconds (a bounded number of clients, a bounded document
size); an unknown kid triggers one early refetch, at most every ``min_refetch`` seconds, so a
client can rotate keys without waiting and an attacker cannot make us fetch on every request.
Fetches go through the outbound session, with its timeout and address policy.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from services.gateway import jwt_checks
from shared.logging import get_logger
from shared.outbound import ResponseTooLarge, read_body
from shared.repositories.clients import Client

log = get_logger("ciba.gateway")

MAX_JWKS_BYTES = 64 * 1024


class ClientKeysUnavailable(Exception):
    """The client has no usable keys (none registered, or its jwks_uri failed)."""


class KeySource(Protocol):
    """Where a client's public keys come from (ClientKeyStore; a dict of sets in unit tests)."""

    async def keys(self, client: Client, *, refresh: bool = False) -> KeySet: ...


async def verify_signed_by_client(source: KeySource, client: Client, token: str,
                                  algorithms: list[str]) -> dict[str, Any]:
    """Verify with the client's registered keys, refetching its jwks_uri once on an unknown kid."""
    try:
        keys = await source.keys(client)
        try:
            return jwt_checks.verify(token, keys, algorithms)
        except jwt_checks.UnknownKeyId:
            return jwt_checks.verify(token, await source.keys(client, refresh=True), algorithms)
    except ClientKeysUnavailable as exc:
        raise jwt_checks.JwtRejected(f"the client's keys are unavailable: {exc}") from None


@dataclass
class _Entry:
    keys: KeySet
    fetched_at: float


class ClientKeyStore:
    def __init__(self, http: aiohttp.ClientSession, *, ttl: float = 300.0, min_refetch: float = 30.0,
                 max_clients: int = 2000, timeout: float = 5.0) -> None:
        self._http = http  # from shared.outbound.create_session: private addresses are refused
        self._ttl = ttl
        self._min_refetch = min_refetch
        self._max_clients = max_clients
        self._timeout = timeout
        self._fetched: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def keys(self, client: Client, *, refresh: bool = False) -> KeySet:
        if client.jwks is not None:
            return _import(client.jwks)
        if not client.jwks_uri:
            raise ClientKeysUnavailable("the client registered neither jwks nor jwks_uri")
        uri = client.jwks_uri
        entry = self._fetched.get(uri)
        now = time.monotonic()
        fresh = entry is not None and now - entry.fetched_at < self._ttl
        may_refetch = entry is None or now - entry.fetched_at >= self._min_refetch
        if entry is not None and (fresh and not refresh or not may_refetch):
            self._fetched.move_to_end(uri)
            return entry.keys
        lock = self._locks.setdefault(uri, asyncio.Lock())
        async with lock:
            entry = self._fetched.get(uri)
            if entry is not None and time.monotonic() - entry.fetched_at < self._min_refetch:
                return entry.keys
            keys = await self._fetch(uri)
            self._fetched[uri] = _Entry(keys, time.monotonic())
            self._fetched.move_to_end(uri)
            while len(self._fetched) > self._max_clients:
                old, _ = self._fetched.popitem(last=False)
                self._locks.pop(old, None)
            return keys

    async def _fetch(self, uri: str) -> KeySet:
        """The client's JWK Set. What went wrong is logged for the operator; the client is told
        only that its jwks_uri could not be used (no internal status or address leaks out)."""
        try:
            return await self._fetch_unguarded(uri)
        except ClientKeysUnavailable as exc:
            log.warning("client_jwks_uri_unusable", detail=str(exc))
            if uri not in self._fetched:
                self._locks.pop(uri, None)  # a failing URI leaves nothing behind
            raise ClientKeysUnavailable("the client's jwks_uri could not be used") from None

    async def _fetch_unguarded(self, uri: str) -> KeySet:
        """The document read to its end (one in several TCP segments is common), within the cap."""
        try:
            async with self._http.get(uri, allow_redirects=False,
                                      timeout=aiohttp.ClientTimeout(total=self._timeout)) as response:
                if response.status != 200:
                    raise ClientKeysUnavailable(f"jwks_uri answered HTTP {response.status}")
                body = await read_body(response, MAX_JWKS_BYTES)
        except ResponseTooLarge:
            raise ClientKeysUnavailable("jwks_uri document is too large") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ClientKeysUnavailable(f"jwks_uri could not be fetched ({type(exc).__name__})") from None
        try:
            return _import(json.loads(body))
        except (ValueError, UnicodeDecodeError):
            raise ClientKeysUnavailable("jwks_uri did not return a JWK Set") from None


def _import(document: Any) -> KeySet:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ClientKeysUnavailable("not a JWK Set")
    try:
        return KeySet.import_key_set(document)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ClientKeysUnavailable(f"not a usable JWK Set ({exc})") from None
