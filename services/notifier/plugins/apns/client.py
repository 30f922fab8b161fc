"""Talking to APNs: the provider token, the request for one device, and the long-lived HTTP/2
connection it travels on."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from services.notifier.plugins.apns.errors import ApnsConfigError, ApnsError
from services.notifier.plugins.apns.settings import ApnsSettings
from services.notifier.plugins.base import NotificationContext
from shared.clock import rfc3339
from shared.outbound import tls_context

TITLE = "Sign-in request"
KEEPALIVE_SEC = 300.0
"""How long an idle connection is kept (httpx's default is 5 s; Apple asks providers to keep
their connection rather than reconnect, and NAT gateways forget idle flows after ~350 s)."""
MAX_ANSWER_BYTES = 64 * 1024
MAX_COLLAPSE_ID_BYTES = 64

_APNS_ID = re.compile(r"[0-9A-Fa-f-]{1,64}")


def sign_provider_token(settings: ApnsSettings, now: float) -> str:
    """The provider authentication token: ``{alg: ES256, kid}`` / ``{iss: team, iat}``."""
    try:
        key = ECKey.import_key(settings.private_key)
    except Exception:
        # Never let the key material travel in an exception message.
        raise ApnsConfigError("apns.private_key is not a usable EC private key") from None
    if not key.is_private or key.curve_name != "P-256":
        raise ApnsConfigError("apns.private_key is not a P-256 private key (the .p8 file)")
    return jwt.encode({"alg": "ES256", "kid": settings.key_id}, {"iss": settings.team_id, "iat": int(now)},
                      key, algorithms=["ES256"], default_type=None)


def unix_time(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, int(moment.timestamp()))


def payload_for(ctx: NotificationContext) -> dict[str, Any]:
    """The notification's JSON payload: a visible alert plus the request's details."""
    body = f"{ctx.client_name} asks you to sign in"
    if ctx.binding_message is not None:
        body = f"{body}: {ctx.binding_message}"
    payload: dict[str, Any] = {
        "aps": {"alert": {"title": TITLE, "body": body}, "sound": "default"},
        "authorization_url": ctx.authorization_url,
        "notification_id": ctx.notification_id,
        "client_name": ctx.client_name,
        "expires_at": rfc3339(ctx.expires_at),
    }
    if ctx.binding_message is not None:
        payload["binding_message"] = ctx.binding_message
    return payload


def headers_for(ctx: NotificationContext, settings: ApnsSettings) -> dict[str, str]:
    """The request headers, less ``authorization``."""
    headers = {
        "apns-topic": settings.topic,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": str(unix_time(ctx.expires_at)),
        "content-type": "application/json",
    }
    if 0 < len(ctx.notification_id.encode()) <= MAX_COLLAPSE_ID_BYTES:
        headers["apns-collapse-id"] = ctx.notification_id
    return headers


class _RedactDeviceTokens(logging.Filter):
    """httpx logs every request's URL at INFO, and an APNs URL ends with the device token."""

    _pattern = re.compile(r"/3/device/[^\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/3/device/" in message:
            record.msg = self._pattern.sub("/3/device/<redacted>", message)
            record.args = None
        return True


def install_log_redaction() -> None:
    """Keep device tokens out of the HTTP libraries' logs; once per process, however often called."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactDeviceTokens) for f in httpx_logger.filters):
        httpx_logger.addFilter(_RedactDeviceTokens())
    # hpack logs every header it encodes at DEBUG, the :path (so the device token) included.
    hpack_logger = logging.getLogger("hpack")
    if hpack_logger.level == logging.NOTSET:
        hpack_logger.setLevel(logging.INFO)


class ApnsConnection:
    """One HTTP/2 client, so one connection to APNs kept open across notifications (APNs speaks
    nothing else, and asks providers not to reconnect); a new one only when the team or the
    trusted CAs change."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None
        self._key: tuple[str, str | None] | None = None
        self._lock = asyncio.Lock()

    async def client(self, settings: ApnsSettings) -> httpx.AsyncClient:
        if self._http is not None and self._key == settings.client_key:
            return self._http
        async with self._lock:
            if self._http is not None and self._key == settings.client_key:
                return self._http
            try:
                context = tls_context(settings.ca_file)
            except (OSError, ValueError):
                raise ApnsConfigError("apns.ca_file cannot be read as PEM certificates") from None
            previous = self._http
            self._http = httpx.AsyncClient(http1=False, http2=True, verify=context, follow_redirects=False,
                                           trust_env=False, timeout=settings.timeout,
                                           limits=httpx.Limits(max_connections=100, max_keepalive_connections=20,
                                                               keepalive_expiry=KEEPALIVE_SEC))
            self._key = settings.client_key
            if previous is not None:
                await previous.aclose()
            return self._http

    async def aclose(self) -> None:
        client, self._http, self._key = self._http, None, None
        if client is not None:
            await client.aclose()


async def send(client: httpx.AsyncClient, settings: ApnsSettings, token: str, device_token: str,
               body: bytes, headers: dict[str, str]) -> tuple[int, ApnsError | None, str | None]:
    """One ``POST /3/device/{token}``: its status, the error APNs answered (None on success)
    and the ``apns-id`` it gave the notification. Raises what httpx raises."""
    request_headers = {"authorization": f"bearer {token}", **headers}
    async with client.stream("POST", settings.url_for(device_token), content=body, headers=request_headers,
                             timeout=settings.timeout) as response:
        raw = bytearray()
        async for chunk in response.aiter_bytes():
            raw += chunk
            if len(raw) >= MAX_ANSWER_BYTES:
                break
        status = response.status_code
        apns_id = response.headers.get("apns-id")
    if status == 200:
        return status, None, apns_id if apns_id and _APNS_ID.fullmatch(apns_id) else None
    return status, ApnsError.parse(status, bytes(raw[:MAX_ANSWER_BYTES])), None
