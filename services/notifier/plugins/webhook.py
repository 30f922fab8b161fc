"""``webhook``: POSTs the notification as JSON to an operator's URL.

Configuration: ``{"notifier": "webhook", "webhook": {"url": "...", "secret": "...",
"timeout": 10}}``. With a secret, the body is signed: ``X-CIBA-Signature: sha256=<hex
HMAC-SHA256 of the raw body keyed with the secret's UTF-8 bytes>``. A 2xx answer is success;
408, 429, 5xx and network errors are retried; any other 4xx is the receiver's final word.
The status decides: the answer's body is read to its end (at most 64 KiB) and dropped. A
``url`` or ``timeout`` that cannot work is a permanent failure that names it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated, Any

import aiohttp
from pydantic import BeforeValidator, Field

from services.notifier.plugins.base import NotificationContext, NotificationResult
from services.notifier.plugins.config import PluginSettings, as_float, text_or_none
from shared.outbound import RETRYABLE_STATUS, drain

SIGNATURE_HEADER = "X-CIBA-Signature"
DEFAULT_TIMEOUT_SEC = 10.0


class WebhookConfigError(ValueError):
    """The plugin's configuration cannot work; retrying will not help."""


class WebhookSettings(PluginSettings):
    SECTION = "webhook"
    CONFIG_ERROR = WebhookConfigError
    MESSAGES = {
        "url": "webhook.url is not configured",
        "timeout": "webhook.timeout must be a number of seconds",
    }

    url: Annotated[str, Field(pattern=r"^https?://")]
    secret: Annotated[str | None, BeforeValidator(text_or_none)] = Field(default=None, repr=False)
    """Signs the body when given."""
    timeout: Annotated[float, BeforeValidator(as_float)] = DEFAULT_TIMEOUT_SEC


def payload(ctx: NotificationContext) -> dict[str, Any]:
    return {
        "notification_id": ctx.notification_id,
        "authorization_url": ctx.authorization_url,
        "binding_message": ctx.binding_message,
        "client_name": ctx.client_name,
        "scope": ctx.scope,
        "acr_values": ctx.acr_values,
        "user": {"sub": ctx.user.sub, "username": ctx.user.username},
        "expires_at": ctx.expires_at.isoformat().replace("+00:00", "Z"),
        "ui_locales": ctx.ui_locales,
    }


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    name = "webhook"

    async def notify(self, ctx: NotificationContext) -> NotificationResult:
        try:
            settings = WebhookSettings.read(ctx.config)
        except WebhookConfigError as exc:
            return NotificationResult.failed(str(exc), permanent=True)
        body = json.dumps(payload(ctx), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if settings.secret:
            headers[SIGNATURE_HEADER] = signature(body, settings.secret)
        timeout = aiohttp.ClientTimeout(total=settings.timeout)
        try:
            async with ctx.http.post(settings.url, data=body, headers=headers, timeout=timeout,
                                     allow_redirects=False) as response:
                status = response.status
                await drain(response)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return NotificationResult.failed(f"webhook unreachable: {type(exc).__name__}")
        if 200 <= status < 300:
            return NotificationResult.sent(f"HTTP {status}")
        permanent = 400 <= status < 500 and status not in RETRYABLE_STATUS
        return NotificationResult.failed(f"webhook answered HTTP {status}", permanent=permanent)
