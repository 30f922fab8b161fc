"""Handling AuthRequestCreated: reach the user through the configured plugin.

Each attempt creates a fresh device-page reference (only its hash is stored) and hands the
plugin the authorization URL built from it. Success is recorded with the event id; a failure
is recorded as an attempt and retried with back-off; when the attempts are spent, or the
plugin says the failure is permanent, the request moves to failed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from services.notifier.plugins.base import NotificationContext, NotificationResult, NotifiedUser
from services.notifier.plugins.registry import NotifierRegistry, UnknownNotifier
from shared.bus.consumer import Delivery, GiveUp, RetryLater
from shared.crypto import new_token
from shared.domain import lifecycle
from shared.events import AnyEvent, AuthRequestCreated
from shared.logging import get_logger
from shared.repositories import attempts, auth_requests, clients, device_refs, users
from shared.runtime import Runtime

log = get_logger("ciba.notification")

DEFAULT_PLUGIN_TIMEOUT_SEC = 15.0


def authorization_url(issuer: str, ref: str) -> str:
    return f"{issuer}/device/{ref}"


class NotifyUser:
    consumer = "notifier"
    routing_keys = ("auth_request.created",)

    def __init__(self, rt: Runtime, http: aiohttp.ClientSession,
                 registry: NotifierRegistry | None = None) -> None:
        self.rt = rt
        self.http = http
        self.registry = registry or NotifierRegistry()

    async def handle(self, event: AnyEvent, delivery: Delivery) -> None:
        if not isinstance(event, AuthRequestCreated):
            return
        rt = self.rt
        request = await auth_requests.get(rt.pool, event.request_id)
        if request is None or request.status != "pending":
            log.info("notification_not_needed", status=request.status if request else None)
            return
        if await attempts.notification_sent(rt.pool, request.id):
            # A re-announced request whose first event was merely late: the user has the link.
            log.info("notification_not_needed", reason="already notified")
            return
        user = await users.get(rt.pool, request.sub)
        client = await clients.get(rt.pool, request.client_id)
        if user is None or client is None:
            log.info("notification_not_needed", reason="user or client removed")
            return

        config: dict[str, Any] = rt.config.cibaEndUserNotificationConfig
        name = config["notifier"]
        try:
            plugin = self.registry.get(name)
        except UnknownNotifier as exc:
            await self._record(request.id, delivery, name, "failed", str(exc))
            raise RetryLater(str(exc)) from None

        ref = new_token(32)
        await device_refs.insert(rt.pool, rt.secrets.hash(ref), request.id, rt.clock.now())
        ctx = NotificationContext(
            notification_id=str(request.id),
            authorization_url=authorization_url(rt.settings.issuer, ref),
            binding_message=request.binding_message,
            client_name=client.display_name,
            scope=request.scope,
            acr_values=request.acr_values,
            user=NotifiedUser(user.sub, user.username, user.email, user.phone_number),
            expires_at=request.expires_at,
            attempt=delivery.attempt,
            config=dict(config.get(name) or {}),
            http=self.http,
            log=log.bind(notifier=name),
            extras={"backchannelClientId": rt.config.backchannelClientId,
                    "backchannelRedirectUri": rt.config.backchannelRedirectUri},
        )
        result = await self._run_plugin(plugin, ctx, config)
        if result.ok:
            async with delivery.transaction() as conn:
                await attempts.add_notification(
                    conn, request.id, attempt=delivery.attempt, notifier=name, outcome="sent",
                    detail=result.detail[:500], at=rt.clock.now())
            log.info("end_user_notified", notifier=name, attempt=delivery.attempt)
            return
        await self._record(request.id, delivery, name, "failed", result.detail)
        log.warning("end_user_notification_failed", notifier=name, detail=result.detail,
                    permanent=result.permanent, attempt=delivery.attempt)
        if result.permanent:
            raise GiveUp(result.detail)
        raise RetryLater(result.detail)

    async def on_exhausted(self, event: AnyEvent, delivery: Delivery, reason: str) -> None:
        rt = self.rt
        now = rt.clock.now()
        async with delivery.transaction() as conn:
            name = rt.config.cibaEndUserNotificationConfig["notifier"]
            await attempts.add_notification(conn, event.request_id, attempt=delivery.attempt,
                                            notifier=name, outcome="gave_up",
                                            detail=reason[:500], at=now)
            failed = await lifecycle.fail(conn, event.request_id, now=now, service=rt.service,
                                          reason=f"end-user notification failed: {reason}"[:500])
        if failed is not None:
            log.error("auth_request_failed", reason="end-user notification failed")

    async def _run_plugin(self, plugin: Any, ctx: NotificationContext,
                          config: dict[str, Any]) -> NotificationResult:
        timeout = float(config.get("timeout", DEFAULT_PLUGIN_TIMEOUT_SEC))
        try:
            return await asyncio.wait_for(plugin.notify(ctx), timeout)
        except TimeoutError:
            return NotificationResult.failed(f"plugin timed out after {timeout:g} s")
        except Exception as exc:
            log.exception("notifier_plugin_raised")
            return NotificationResult.failed(f"plugin raised {type(exc).__name__}")

    async def _record(self, request_id: Any, delivery: Delivery, name: str, outcome: str,
                      detail: str) -> None:
        await attempts.add_notification(self.rt.pool, request_id, attempt=delivery.attempt,
                                        notifier=name, outcome=outcome, detail=detail[:500],
                                        at=self.rt.clock.now())
