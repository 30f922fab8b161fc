"""A NotificationContext as the notifier builds it, for driving a plugin directly in tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from services.notifier.plugins.base import NotificationContext, NotifiedUser, RegisteredDevice
from shared.logging import NOTIFICATION_LOGGER

NOTIFICATION_ID = "5f0c7f4e-0a51-4c1e-9a52-8d1f0e0b7a11"
EXPIRES_AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
REGISTERED_AT = datetime(2029, 12, 1, tzinfo=UTC)


def device(token: str, device_id: str | None = None) -> RegisteredDevice:
    return RegisteredDevice(id=device_id or f"id-{token}", token=token, registered_at=REGISTERED_AT)


def notification_context(**fields: Any) -> NotificationContext:
    """Shop asks alice to approve "Pay 42 EUR"; any field can be given instead."""
    defaults: dict[str, Any] = {
        "notification_id": NOTIFICATION_ID,
        "authorization_url": "https://as.example.com/device/Zm9vYmFy",
        "binding_message": "Pay 42 EUR",
        "client_name": "Shop",
        "scope": ["openid", "email"],
        "acr_values": None,
        "user": NotifiedUser("sub-alice", "alice", "alice@example.com"),
        "expires_at": EXPIRES_AT,
        "attempt": 1,
        "config": {},
        "http": None,
        "log": structlog.get_logger(NOTIFICATION_LOGGER),
    }
    return NotificationContext(**{**defaults, **fields})
