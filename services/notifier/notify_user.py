"""Handling AuthRequestCreated: reach the user through the configured plugin.

One statement takes the request in hand (claim, a fresh device-page reference of which only
the hash is stored, and everything the plugins need: the user, the client's name, the
registered devices); the plugins get the authorization URL built from the reference. The
configured plugins are tried in order until one succeeds (push, then email as fallback).
Success is recorded with the event id; each failure is recorded as an attempt; the attempt
is retried with back-off unless every plugin failed permanently; when the attempts are spent
the request moves to failed. Devices a plugin reports as unregistered are removed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from typing import Any
from uuid import UUID

import aiohttp

from services.notifier import queries
from services.notifier.plugins.base import (
    NotificationContext,
    NotificationResult,
    NotifiedUser,
    RegisteredDevice,
)
from services.notifier.plugins.registry import NotifierRegistry, UnknownNotifier
from shared import metrics
from shared.bus.consumer import AlreadyProcessed, Delivery, GiveUp, RetryLater
from shared.bus.topology import CONSUMERS
from shared.crypto import new_token
from shared.db.batching import Batcher
from shared.domain import lifecycle
from shared.events import AnyEvent, AuthRequestCreated
from shared.logging import get_logger
from shared.repositories import attempts, auth_requests, devices
from shared.runtime import Runtime

log = get_logger("ciba.notification")

DEFAULT_PLUGIN_TIMEOUT_SEC = 15.0


def authorization_url(issuer: str, ref: str) -> str:
    return f"{issuer}/device/{ref}"


async def run_plugin(plugin: Any, ctx: NotificationContext, timeout: float) -> NotificationResult:
    """A plugin that raises, or runs past ``timeout``, has failed (and is retried)."""
    try:
        return await asyncio.wait_for(plugin.notify(ctx), timeout)
    except TimeoutError:
        return NotificationResult.failed(f"plugin timed out after {timeout:g} s")
    except Exception as exc:
        log.exception("notifier_plugin_raised", notifier=getattr(plugin, "name", "?"))
        return NotificationResult.failed(f"plugin raised {type(exc).__name__}")


def plugin_timeout(config: dict[str, Any]) -> float:
    return float(config.get("timeout", DEFAULT_PLUGIN_TIMEOUT_SEC))


def notifier_names(config: dict[str, Any]) -> list[str]:
    """The plugin, or the plugins tried in order (e.g. push, then email as fallback)."""
    names = config["notifier"]
    return [names] if isinstance(names, str) else list(names)


class NotifyUser:
    consumer = "notifier"
    routing_keys = CONSUMERS[consumer]
    checks_processed = True  # take_in_hand skips an event already processed

    def __init__(self, rt: Runtime, http: aiohttp.ClientSession,
                 registry: NotifierRegistry | None = None) -> None:
        self.rt = rt
        self.http = http
        self.registry = registry or NotifierRegistry()
        # The messages in hand take their requests, and record their outcomes, together.
        self._claims: Batcher[queries.Claim, queries.InHand | None] = Batcher(self._take_in_hand)
        self._sent: Batcher[queries.Sent, bool] = Batcher(
            lambda sent: queries.record_sent(self.rt.pool, sent, consumer=self.consumer))

    async def handle(self, event: AnyEvent, delivery: Delivery) -> None:
        if not isinstance(event, AuthRequestCreated):
            return
        rt = self.rt
        config: dict[str, Any] = rt.config.cibaEndUserNotificationConfig
        # One notifier at a time per request: a late event and its re-announcement must not
        # reach the user twice. The holder of the claim owns the outcome. The claim belongs to
        # the event, so when a notifier dies (or loses the database) mid-way, the redelivered
        # event takes it back at once; a claim of another event lapses after its hold (see
        # _take_in_hand), and the request-processor's recovery re-announces the request
        # (cibaNotificationRecoveryAfterSec is longer than any hold). Each attempt gets a fresh
        # device-page reference.
        ref = new_token(32)
        in_hand = await self._claims.submit(queries.Claim(event.message_id, event.request_id, rt.secrets.hash(ref)))
        if in_hand is None:
            reason = await queries.why_not(rt.pool, consumer=self.consumer, message_id=event.message_id,
                                           request_id=event.request_id)
            log.info("notification_not_needed", reason=reason)
            return
        try:
            await self._notify(in_hand, ref, config, delivery)
        except BaseException:
            await auth_requests.release_notification_claim(rt.pool, in_hand.request_id)
            raise

    async def _notify(self, request: queries.InHand, ref: str, config: dict[str, Any],
                      delivery: Delivery) -> None:
        rt = self.rt
        context = partial(
            NotificationContext,
            notification_id=str(request.request_id),
            authorization_url=authorization_url(rt.settings.issuer, ref),
            binding_message=request.binding_message,
            client_name=request.client_name,
            scope=request.scope,
            acr_values=request.acr_values,
            user=NotifiedUser(request.sub, request.username, request.email, request.phone_number),
            devices=[RegisteredDevice(str(d.id), rt.secrets.decrypt(d.token_enc), d.last_registered_at)
                     for d in request.devices],
            expires_at=request.expires_at,
            ui_locales=(request.ui_locales or "").split(),
            attempt=delivery.attempt,
            http=self.http,
            extras={"backchannelClientId": rt.config.backchannelClientId,
                    "backchannelRedirectUri": rt.config.backchannelRedirectUri},
        )
        failures: list[NotificationResult] = []
        for name in notifier_names(config):
            result = await self._try(name, context(
                config=dict(config.get(name) or {}), log=log.bind(notifier=name)), config)
            await self._forget_devices(request.sub, result)
            metrics.NOTIFICATION_ATTEMPTS.labels(name, "sent" if result.ok else "failed").inc()
            if result.ok:
                await self._record_sent(request.request_id, delivery, name, result.detail)
                metrics.stage("created_to_notified", request.created_at, rt.clock.now())
                log.info("end_user_notified", notifier=name, attempt=delivery.attempt)
                return
            await self._record(request.request_id, delivery, name, "failed", result.detail)
            log.warning("end_user_notification_failed", notifier=name, detail=result.detail,
                        permanent=result.permanent, attempt=delivery.attempt)
            failures.append(result)
        summary = "; ".join(f.detail for f in failures)
        if all(f.permanent for f in failures):
            raise GiveUp(summary)
        raise RetryLater(summary)

    async def _take_in_hand(self, claims: list[queries.Claim]) -> list[queries.InHand | None]:
        config: dict[str, Any] = self.rt.config.cibaEndUserNotificationConfig
        hold = timedelta(seconds=plugin_timeout(config) * len(notifier_names(config)) + 5)
        return await queries.take_in_hand(self.rt.pool, claims, consumer=self.consumer, now=self.rt.clock.now(),
                                          hold=hold)

    async def _record_sent(self, request_id: UUID, delivery: Delivery, notifier: str, detail: str) -> None:
        recorded = await self._sent.submit(queries.Sent(
            delivery.event.message_id, request_id, delivery.attempt, notifier, detail[:500], self.rt.clock.now()))
        if not recorded:
            raise AlreadyProcessed
        delivery.recorded = True

    async def _try(self, name: str, ctx: NotificationContext, config: dict[str, Any]) -> NotificationResult:
        try:
            plugin = self.registry.get(name)
        except UnknownNotifier as exc:
            return NotificationResult.failed(str(exc))
        return await run_plugin(plugin, ctx, plugin_timeout(config))

    async def _forget_devices(self, sub: str, result: NotificationResult) -> None:
        if result.unregistered_devices:
            ids = [UUID(device_id) for device_id in result.unregistered_devices]
            removed = await devices.remove(self.rt.pool, ids, sub)
            log.info("devices_unregistered", count=removed)

    async def on_exhausted(self, event: AnyEvent, delivery: Delivery, reason: str) -> None:
        rt = self.rt
        now = rt.clock.now()
        async with delivery.transaction() as conn:
            names = ",".join(notifier_names(rt.config.cibaEndUserNotificationConfig))
            await attempts.add_notification(conn, event.request_id, attempt=delivery.attempt,
                                            notifier=names, outcome="gave_up",
                                            detail=reason[:500], at=now)
            failed = await lifecycle.fail(conn, event.request_id, now=now, service=rt.service,
                                          reason=f"end-user notification failed: {reason}"[:500])
        if failed is not None:
            log.error("auth_request_failed", reason="end-user notification failed")

    async def _record(self, request_id: Any, delivery: Delivery, name: str, outcome: str,
                      detail: str) -> None:
        await attempts.add_notification(self.rt.pool, request_id, attempt=delivery.attempt,
                                        notifier=name, outcome=outcome, detail=detail[:500],
                                        at=self.rt.clock.now())
