"""The ``apns`` plugin: every registered device gets the notification; their outcomes make the
result (see the package's docstring)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence

import httpx

from services.notifier.plugins import push
from services.notifier.plugins.apns.client import (
    ApnsConnection,
    headers_for,
    install_log_redaction,
    payload_for,
    send,
    sign_provider_token,
)
from services.notifier.plugins.apns.errors import ApnsConfigError
from services.notifier.plugins.apns.settings import ApnsSettings, settings_from
from services.notifier.plugins.base import NotificationContext, NotificationResult, RegisteredDevice
from services.notifier.plugins.push import DeviceOutcome
from shared.outbound import certificate_refused

TOKEN_RENEW_AFTER_SEC = 50 * 60.0
"""Apple accepts a provider token for an hour and refuses renewals within 20 minutes."""


class ApnsNotifier:
    name = "apns"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        install_log_redaction()
        self._wall_clock = wall_clock
        """The tokens' ``iat``; ``clock`` says when to renew them."""
        self._tokens = push.TokenCache(clock)
        self._connection = ApnsConnection()

    async def notify(self, ctx: NotificationContext) -> NotificationResult:
        if not ctx.devices:
            ctx.log.info("apns_no_device", user=ctx.user.username)
            return NotificationResult.failed("apns: no device registered", permanent=True)
        try:
            settings = settings_from(ctx.config)
            await self._provider_token(settings)
            client = await self._connection.client(settings)
        except ApnsConfigError as exc:
            ctx.log.warning("apns_misconfigured", detail=str(exc))
            return NotificationResult.failed(f"apns: {exc}", permanent=True)

        body = json.dumps(payload_for(ctx), separators=(",", ":"), ensure_ascii=False).encode()
        headers = headers_for(ctx, settings)
        outcomes = await asyncio.gather(*(self._deliver(client, settings, device, body, headers)
                                          for device in ctx.devices))
        for outcome in outcomes:
            ctx.log.info("apns_device_notified", device_id=outcome.device_id, outcome=outcome.outcome,
                         detail=outcome.detail)
        return summarise(outcomes)

    async def aclose(self) -> None:
        """Close the HTTP/2 connection (the notifier process may simply exit instead)."""
        await self._connection.aclose()

    async def _provider_token(self, settings: ApnsSettings) -> str:
        """Signed once per key and reused until TOKEN_RENEW_AFTER_SEC; concurrent notifications
        wait for one signing."""
        async def sign() -> tuple[str, float]:
            return sign_provider_token(settings, self._wall_clock()), TOKEN_RENEW_AFTER_SEC

        return await self._tokens.get(settings.token_cache_key, sign)

    async def _deliver(self, client: httpx.AsyncClient, settings: ApnsSettings, device: RegisteredDevice,
                       body: bytes, headers: dict[str, str]) -> DeviceOutcome:
        """A 403 ExpiredProviderToken renews the token and tries the device once more."""
        renewed = False
        while True:
            try:
                token = await self._provider_token(settings)
            except ApnsConfigError as exc:
                return DeviceOutcome(device.id, "failed", str(exc))
            try:
                status, error, apns_id = await send(client, settings, token, device.token, body, headers)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                return _unsent(device, exc)
            if error is None:
                return DeviceOutcome(device.id, "sent", f"HTTP {status}" + (f" apns-id {apns_id}" if apns_id else ""))
            if error.provider_token_expired and not renewed:
                self._tokens.forget(settings.token_cache_key, token)
                renewed = True
                continue
            if error.device_is_dead:
                return DeviceOutcome(device.id, "unregistered", error.label)
            if error.provider_token_expired or error.retryable:
                return DeviceOutcome(device.id, "retryable", error.label)
            return DeviceOutcome(device.id, "failed", error.label)


def _unsent(device: RegisteredDevice, exc: httpx.HTTPError | httpx.InvalidURL) -> DeviceOutcome:
    """The request did not get an answer: time-outs and lost connections are worth a retry, an
    untrusted certificate and a request the client refuses to make are not."""
    if isinstance(exc, httpx.TimeoutException):
        return DeviceOutcome(device.id, "retryable", f"APNs did not answer in time: {type(exc).__name__}")
    if isinstance(exc, httpx.TransportError):
        if certificate_refused(exc):
            return DeviceOutcome(device.id, "failed", "the APNs server's certificate is not trusted")
        return DeviceOutcome(device.id, "retryable", f"APNs unreachable: {type(exc).__name__}")
    return DeviceOutcome(device.id, "failed", f"request refused by the client: {type(exc).__name__}")


def summarise(outcomes: Sequence[DeviceOutcome]) -> NotificationResult:
    return push.summarise("apns", outcomes)
