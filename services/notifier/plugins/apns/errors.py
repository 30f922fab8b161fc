"""What can go wrong with APNs: a configuration that cannot work, and APNs's error answers
(read by their status and ``reason``, which decide whether a device is dead, the provider token
must be renewed, or a later retry may succeed)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from shared.outbound import RETRYABLE_STATUS

DEAD_DEVICE_REASONS: frozenset[str] = frozenset()
"""400 reasons that would drop a registration; none: Apple also answers BadDeviceToken or
DeviceTokenNotForTopic when *our* environment or topic is wrong, and dropping every user's
devices for a configuration slip is worse than one failed push. Only 410 drops a device."""

_REASON = re.compile(r"[A-Za-z]{1,64}")


class ApnsConfigError(ValueError):
    """The plugin's configuration cannot work; retrying will not help."""


@dataclass(frozen=True)
class ApnsError:
    """An APNs error answer: its status and the ``reason`` of its JSON body."""

    status: int
    reason: str | None = None

    @classmethod
    def parse(cls, status: int, raw: bytes) -> ApnsError:
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        reason = answer.get("reason") if isinstance(answer, dict) else None
        return cls(status, reason if isinstance(reason, str) and _REASON.fullmatch(reason) else None)

    @property
    def label(self) -> str:
        return f"HTTP {self.status}" + (f" {self.reason}" if self.reason else "")

    @property
    def device_is_dead(self) -> bool:
        return self.status == 410 or (self.status == 400 and self.reason in DEAD_DEVICE_REASONS)

    @property
    def provider_token_expired(self) -> bool:
        return self.status == 403 and self.reason == "ExpiredProviderToken"

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUS or self.status >= 500 or self.status < 400
