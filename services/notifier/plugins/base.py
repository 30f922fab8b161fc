"""The end-user notification plugin interface.

A plugin reaches the user's authentication device for one request. It receives everything
it may need in a ``NotificationContext`` and answers with a ``NotificationResult``; it never
touches the database or the bus. Raising, or running past the time limit, counts as a
failure that is retried.

Plugins are found by name: the built-ins and any installed package declaring an entry point
in the group ``ciba.notifiers`` (see ``services.notifier.plugins.registry``). The server
property ``cibaEndUserNotificationConfig`` picks one: ``{"notifier": "<name>", "<name>": {...}}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import aiohttp
import structlog


@dataclass(frozen=True)
class NotifiedUser:
    sub: str
    username: str
    email: str | None = None
    phone_number: str | None = None


@dataclass(frozen=True)
class NotificationContext:
    notification_id: str
    """Stable across retries of one request; never the auth_req_id."""
    authorization_url: str
    """Opens the request's login and consent pages on the authentication device."""
    binding_message: str | None
    client_name: str
    scope: list[str]
    acr_values: list[str] | None
    user: NotifiedUser
    expires_at: datetime
    attempt: int
    config: dict[str, Any]
    """The plugin's own section of cibaEndUserNotificationConfig."""
    http: aiohttp.ClientSession
    log: structlog.stdlib.BoundLogger
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NotificationResult:
    ok: bool
    detail: str = ""
    permanent: bool = False
    """A failure that retrying cannot fix (e.g. the device token is unregistered)."""

    @classmethod
    def sent(cls, detail: str = "") -> NotificationResult:
        return cls(True, detail)

    @classmethod
    def failed(cls, detail: str, *, permanent: bool = False) -> NotificationResult:
        return cls(False, detail, permanent)


class Notifier(Protocol):
    name: str

    async def notify(self, ctx: NotificationContext) -> NotificationResult: ...
