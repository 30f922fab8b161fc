"""What the push plugins (fcm, apns) share: one outcome per registered device, and how the
outcomes of a user's devices make the plugin's result."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass

from services.notifier.plugins.base import NotificationResult


@dataclass(frozen=True)
class DeviceOutcome:
    device_id: str
    outcome: str
    """sent | unregistered | retryable | failed"""
    detail: str


def summarise(provider: str, outcomes: Sequence[DeviceOutcome]) -> NotificationResult:
    """One accepting device is success (dead ones still reported); only dead devices is a
    permanent failure; otherwise retryable when any device's failure was."""
    dead = tuple(o.device_id for o in outcomes if o.outcome == "unregistered")
    sent = [o for o in outcomes if o.outcome == "sent"]
    counts = {kind: sum(1 for o in outcomes if o.outcome == kind)
              for kind in ("sent", "unregistered", "retryable", "failed")}
    tally = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    if sent:
        return NotificationResult.sent(f"{provider}: {tally}", unregistered_devices=dead)
    failures = "; ".join(f"{o.device_id}: {o.detail}" for o in outcomes if o.outcome != "unregistered")
    detail = f"{provider}: {tally}" + (f" ({failures})" if failures else "")
    if len(dead) == len(outcomes):
        return NotificationResult.failed(f"{provider}: every device is unregistered ({tally})", permanent=True,
                                         unregistered_devices=dead)
    retryable = any(o.outcome == "retryable" for o in outcomes)
    return NotificationResult.failed(detail, permanent=not retryable, unregistered_devices=dead)


class TokenCache:
    """Bearer tokens a push plugin obtains from its provider (FCM access tokens, APNs provider
    tokens), reused until ``renew_at`` on a monotonic clock. A burst of notifications waiting
    for the same key gets one new token: the first caller mints it under a lock and the others
    find it there."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._tokens: dict[Hashable, tuple[str, float]] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}

    def _cached(self, key: Hashable) -> str | None:
        cached = self._tokens.get(key)
        return cached[0] if cached is not None and self._clock() < cached[1] else None

    async def get(self, key: Hashable, mint: Callable[[], Awaitable[tuple[str, float]]]) -> str:
        """The cached token for ``key``, or a new one from ``mint``, which returns the token and
        how many seconds from now it should be renewed."""
        token = self._cached(key)
        if token is not None:
            return token
        async with self._locks.setdefault(key, asyncio.Lock()):
            token = self._cached(key)  # minted by whoever held the lock before us
            if token is not None:
                return token
            token, renew_in = await mint()
            self._tokens[key] = (token, self._clock() + renew_in)
            return token

    def forget(self, key: Hashable, refused: str) -> None:
        """Drop the token the provider refused, unless a newer one already replaced it."""
        cached = self._tokens.get(key)
        if cached is not None and cached[0] == refused:
            del self._tokens[key]
