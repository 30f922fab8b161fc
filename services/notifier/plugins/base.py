"""The end-user notification plugin interface.

A plugin reaches the user's authentication device for one request. It receives everything
it may need in a ``NotificationContext`` and answers with a ``NotificationResult``; it never
touches the database or the bus (to drop a dead device registration it names the device in
its result). Raising, or running past the time limit, counts as a failure that is retried.

Plugins are found by name: the built-ins and any installed package declaring an entry point
in the group ``ciba.notifiers`` (see ``services.notifier.plugins.registry``). The server
property ``cibaEndUserNotificationConfig`` picks one, or a list tried in order:
``{"notifier": "<name>" | ["<name>", ...], "<name>": {...its configuration...}}``.

Writing one::

    class SmsNotifier:
        name = "sms"

        async def notify(self, ctx: NotificationContext) -> NotificationResult:
            async with ctx.http.post(ctx.config["url"], json={...}) as response:
                if response.status == 200:
                    return NotificationResult.sent()
                return NotificationResult.failed(f"HTTP {response.status}")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import aiohttp
from structlog.typing import FilteringBoundLogger


@dataclass(frozen=True)
class NotifiedUser:
    sub: str
    username: str
    email: str | None = None
    phone_number: str | None = None


@dataclass(frozen=True)
class RegisteredDevice:
    """A push token the user's app registered at /bc-deviceRegistration."""

    id: str
    token: str
    registered_at: datetime


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
    """The plugin's own section of cibaEndUserNotificationConfig (secrets decrypted)."""
    http: aiohttp.ClientSession
    log: FilteringBoundLogger
    """Logger ``ciba.notification``, bound to the request's auth_req_id."""
    devices: list[RegisteredDevice] = field(default_factory=list)
    """The user's registered push tokens (see /bc-deviceRegistration), oldest first."""
    extras: dict[str, Any] = field(default_factory=dict)
    ui_locales: list[str] = field(default_factory=list)
    """The languages the client asked for (OIDC ui_locales), preferred first; empty when it
    asked none. The device pages already speak the first supported one; a plugin may word its
    message to match."""


@dataclass(frozen=True)
class NotificationResult:
    ok: bool
    detail: str = ""
    permanent: bool = False
    """A failure that retrying cannot fix (e.g. every device token is unregistered)."""
    unregistered_devices: tuple[str, ...] = ()
    """Ids of devices the provider says no longer exist: their registrations are removed."""

    @classmethod
    def sent(cls, detail: str = "", *, unregistered_devices: tuple[str, ...] = ()) -> NotificationResult:
        return cls(True, detail, unregistered_devices=unregistered_devices)

    @classmethod
    def failed(cls, detail: str, *, permanent: bool = False,
               unregistered_devices: tuple[str, ...] = ()) -> NotificationResult:
        return cls(False, detail, permanent, unregistered_devices)


class Notifier(Protocol):
    name: str

    async def notify(self, ctx: NotificationContext) -> NotificationResult: ...
