"""The ping and push notifications a client is expecting, keyed by their bearer token.

``start`` registers the ``client_notification_token`` before it sends the request, so a
notification that overtakes the provider's answer (a very quick user) still finds it. The
callback handlers find the expectation by the bearer token the provider presents and the
``auth_req_id`` in the body, compare the token in constant time, and hand the outcome to
whoever ``wait``s for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

from ciba_client.errors import CibaError, ExpiredToken
from ciba_client.tokens import TokenResponse


@dataclass(eq=False)
class Expected:
    token: str = field(repr=False)
    deadline: float  # monotonic: after it (and a grace period) the entry is dropped
    auth_req_id: str | None = field(default=None, repr=False)
    pinged: asyncio.Event = field(default_factory=asyncio.Event)
    # A push's outcome: a TokenResponse or a CibaError, set once.
    outcome: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    async def pushed(self, until: float) -> TokenResponse:
        """The pushed tokens, or the pushed error raised; ExpiredToken when no push came by
        ``until`` (monotonic)."""
        try:
            outcome: TokenResponse | CibaError = await asyncio.wait_for(
                asyncio.shield(self.outcome), max(until - time.monotonic(), 0))
        except TimeoutError:
            raise ExpiredToken("no push arrived before the request expired") from None
        if isinstance(outcome, CibaError):
            raise outcome
        return outcome


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Notifications:
    """In-memory expectations of one client (one process). Entries are dropped when their
    request is over for ``wait``, or ``grace`` seconds after it expired."""

    def __init__(self, *, grace: float = 300.0) -> None:
        self._grace = grace
        self._by_digest: dict[bytes, list[Expected]] = {}

    def expect(self, token: str, deadline: float) -> Expected:
        self.purge()
        entry = Expected(token, deadline)
        self._by_digest.setdefault(_digest(token), []).append(entry)
        return entry

    def bind(self, entry: Expected, auth_req_id: str) -> None:
        entry.auth_req_id = auth_req_id

    def drop(self, entry: Expected) -> None:
        entries = self._by_digest.get(_digest(entry.token), [])
        if entry in entries:
            entries.remove(entry)
        if not entries:
            self._by_digest.pop(_digest(entry.token), None)

    def match(self, bearer: str, auth_req_id: str) -> Expected | None:
        """The expectation this bearer token and auth_req_id answer; an entry whose request is
        still being sent (no auth_req_id yet) is bound to this one."""
        unbound = None
        for entry in self._by_digest.get(_digest(bearer), []):
            if not hmac.compare_digest(entry.token.encode(), bearer.encode()):
                continue
            if entry.auth_req_id is not None and hmac.compare_digest(entry.auth_req_id.encode(),
                                                                     auth_req_id.encode()):
                return entry
            if entry.auth_req_id is None and unbound is None:
                unbound = entry
        if unbound is not None:
            unbound.auth_req_id = auth_req_id
        return unbound

    def purge(self, now: float | None = None) -> None:
        current = time.monotonic() if now is None else now
        for digest, entries in list(self._by_digest.items()):
            kept = [e for e in entries if e.deadline + self._grace > current]
            if kept:
                self._by_digest[digest] = kept
            else:
                del self._by_digest[digest]
