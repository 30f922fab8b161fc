"""The ``fcm`` plugin: every registered device gets the message; their outcomes make the
result (see the package's docstring)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence

import aiohttp

from services.notifier.plugins import push
from services.notifier.plugins.base import NotificationContext, NotificationResult, RegisteredDevice
from services.notifier.plugins.fcm.client import fetch_access_token, message_for, send
from services.notifier.plugins.fcm.errors import FcmConfigError, TokenError
from services.notifier.plugins.fcm.settings import FcmSettings, settings_from
from services.notifier.plugins.push import DeviceOutcome

REFRESH_MARGIN_SEC = 60.0


class FcmNotifier:
    name = "fcm"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._wall_clock = wall_clock
        """The assertions' ``iat``; ``clock`` says when to refresh the access token."""
        self._tokens = push.TokenCache(clock)

    async def notify(self, ctx: NotificationContext) -> NotificationResult:
        if not ctx.devices:
            ctx.log.info("fcm_no_device", user=ctx.user.username)
            return NotificationResult.failed("fcm: no device registered", permanent=True)
        try:
            settings = settings_from(ctx.config)
            await self._access_token(ctx.http, settings)
        except FcmConfigError as exc:
            ctx.log.warning("fcm_misconfigured", detail=str(exc))
            return NotificationResult.failed(f"fcm: {exc}", permanent=True)
        except TokenError as exc:
            ctx.log.warning("fcm_access_token_refused", detail=exc.detail, permanent=exc.permanent)
            return NotificationResult.failed(f"fcm: {exc.detail}", permanent=exc.permanent)

        outcomes = await asyncio.gather(*(self._deliver(ctx, settings, device) for device in ctx.devices))
        for outcome in outcomes:
            ctx.log.info("fcm_device_notified", device_id=outcome.device_id, outcome=outcome.outcome,
                         detail=outcome.detail)
        return summarise(outcomes)

    async def _access_token(self, http: aiohttp.ClientSession, settings: FcmSettings) -> str:
        """Cached per service account until a minute before it expires; concurrent
        notifications wait for one refresh."""
        async def fetch() -> tuple[str, float]:
            token, expires_in = await fetch_access_token(http, settings, self._wall_clock())
            return token, expires_in - REFRESH_MARGIN_SEC

        return await self._tokens.get(settings.cache_key, fetch)

    async def _deliver(self, ctx: NotificationContext, settings: FcmSettings,
                       device: RegisteredDevice) -> DeviceOutcome:
        """A 401 drops the access token, refreshes it and tries the device once more."""
        body = json.dumps(message_for(ctx, device.token), separators=(",", ":")).encode()
        refreshed = False
        while True:
            try:
                access_token = await self._access_token(ctx.http, settings)
            except TokenError as exc:
                outcome = "failed" if exc.permanent else "retryable"
                return DeviceOutcome(device.id, outcome, exc.detail)
            try:
                status, error = await send(ctx.http, settings, access_token, body)
            except (TimeoutError, aiohttp.ClientError) as exc:
                return DeviceOutcome(device.id, "retryable", f"FCM unreachable: {type(exc).__name__}")
            if error is None:
                return DeviceOutcome(device.id, "sent", f"HTTP {status}")
            if error.unauthenticated and not refreshed:
                self._tokens.forget(settings.cache_key, access_token)
                refreshed = True
                continue
            if error.device_is_dead:
                return DeviceOutcome(device.id, "unregistered", error.label)
            if error.unauthenticated or error.retryable:
                return DeviceOutcome(device.id, "retryable", error.label)
            return DeviceOutcome(device.id, "failed", error.label)


def summarise(outcomes: Sequence[DeviceOutcome]) -> NotificationResult:
    return push.summarise("fcm", outcomes)
