"""What the push plugins (fcm, apns) share: one outcome per registered device, and how the
outcomes of a user's devices make the plugin's result."""

from __future__ import annotations

from collections.abc import Sequence
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
