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
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol
from uuid import UUID

import aiohttp

from services.notifier.plugins.base import (
    NotificationContext,
    NotificationResult,
    NotifiedUser,
    Notifier,
    RegisteredDevice,
)
from services.notifier.plugins.registry import UnknownNotifier
from services.notifier.queries import Claim, InHand, Sent
from shared import metrics
from shared.bus.consumer import AlreadyProcessed, Delivery, GiveUp, RetryLater
from shared.bus.topology import CONSUMERS
from shared.clock import Clock
from shared.config.model import ServerConfig
from shared.crypto import Secrets, new_token
from shared.db import Connection
from shared.db.batching import Batcher
from shared.domain.auth_request import AuthRequest
from shared.events import AnyEvent, AuthRequestCreated
from shared.logging import get_logger

log = get_logger("ciba.notification")

DEFAULT_PLUGIN_TIMEOUT_SEC = 15.0


class Notifications(Protocol):
    """What the notifier reads and records (services.notifier.stores.PostgresNotifications)."""

    async def take_in_hand(self, claims: list[Claim], *, now: datetime, hold: timedelta) -> list[InHand | None]:
        """For each claim, the request it now holds for ``hold``, or None when there is nothing to do."""
        ...

    async def why_not(self, message_id: UUID, request_id: UUID) -> str: ...

    async def record_sent(self, sent: list[Sent]) -> list[bool]:
        """For each, whether it was recorded (False: another delivery of its event was first)."""
        ...

    async def release_claim(self, request_id: UUID) -> None: ...

    async def forget_devices(self, device_ids: list[UUID], sub: str) -> int: ...

    async def record_attempt(self, request_id: UUID, *, attempt: int, notifier: str, outcome: str, detail: str,
                             at: datetime) -> None: ...

    async def gave_up(self, conn: Connection, request_id: UUID, *, attempt: int, notifier: str, reason: str,
                      at: datetime, service: str) -> AuthRequest | None:
        """In the consumer's transaction: the last attempt recorded and the request failed;
        None when it had already left pending."""
        ...


class Plugins(Protocol):
    """The notification plugins by name (services.notifier.plugins.registry.NotifierRegistry)."""

    def get(self, name: str) -> Notifier:
        """The plugin, or UnknownNotifier."""
        ...


def authorization_url(issuer: str, ref: str) -> str:
    return f"{issuer}/device/{ref}"


async def run_plugin(plugin: Notifier, ctx: NotificationContext, timeout: float) -> NotificationResult:
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


def give_up_or_retry(failures: list[NotificationResult]) -> GiveUp | RetryLater:
    """Every plugin failed: give up only when none of the failures could pass on a retry."""
    summary = "; ".join(f.detail for f in failures)
    if all(f.permanent for f in failures):
        return GiveUp(summary)
    return RetryLater(summary)


class NotifyUser:
    consumer = "notifier"
    routing_keys = CONSUMERS[consumer]
    checks_processed = True  # take_in_hand skips an event already processed

    def __init__(self, store: Notifications, plugins: Plugins, http: aiohttp.ClientSession, *, secrets: Secrets,
                 clock: Clock, config: Callable[[], ServerConfig], issuer: str, service: str) -> None:
        self.store = store
        self.plugins = plugins
        self.http = http
        """Handed to the plugins, in their NotificationContext."""
        self.secrets = secrets
        self.clock = clock
        self.config = config
        """The live configuration, read once per message."""
        self.issuer = issuer
        self.service = service
        # The messages in hand take their requests, and record their outcomes, together.
        self._claims: Batcher[Claim, InHand | None] = Batcher(self._take_in_hand)
        self._sent: Batcher[Sent, bool] = Batcher(store.record_sent)

    async def handle(self, event: AnyEvent, delivery: Delivery) -> None:
        if not isinstance(event, AuthRequestCreated):
            return
        config = self.config()
        # One notifier at a time per request: a late event and its re-announcement must not
        # reach the user twice. The holder of the claim owns the outcome. The claim belongs to
        # the event, so when a notifier dies (or loses the database) mid-way, the redelivered
        # event takes it back at once; a claim of another event lapses after its hold (see
        # _take_in_hand), and the request-processor's recovery re-announces the request
        # (cibaNotificationRecoveryAfterSec is longer than any hold). Each attempt gets a fresh
        # device-page reference.
        ref = new_token(32)
        in_hand = await self._claims.submit(Claim(event.message_id, event.request_id, self.secrets.hash(ref)))
        if in_hand is None:
            reason = await self.store.why_not(event.message_id, event.request_id)
            log.info("notification_not_needed", reason=reason)
            return
        try:
            await self._notify(in_hand, ref, config, delivery)
        except BaseException:
            await self.store.release_claim(in_hand.request_id)
            raise

    async def _notify(self, request: InHand, ref: str, config: ServerConfig, delivery: Delivery) -> None:
        """Try the configured plugins in order until one reaches the user."""
        notification = config.cibaEndUserNotificationConfig
        context = partial(
            NotificationContext,
            notification_id=str(request.request_id),
            authorization_url=authorization_url(self.issuer, ref),
            binding_message=request.binding_message,
            client_name=request.client_name,
            scope=request.scope,
            acr_values=request.acr_values,
            user=NotifiedUser(request.sub, request.username, request.email, request.phone_number),
            devices=[RegisteredDevice(str(d.id), self.secrets.decrypt(d.token_enc), d.last_registered_at)
                     for d in request.devices],
            expires_at=request.expires_at,
            ui_locales=(request.ui_locales or "").split(),
            attempt=delivery.attempt,
            http=self.http,
            extras={"backchannelClientId": config.backchannelClientId,
                    "backchannelRedirectUri": config.backchannelRedirectUri},
        )
        failures: list[NotificationResult] = []
        for name in notifier_names(notification):
            result = await self._try(name, context(
                config=dict(notification.get(name) or {}), log=log.bind(notifier=name)), notification)
            await self._forget_devices(request.sub, result)
            metrics.NOTIFICATION_ATTEMPTS.labels(name, "sent" if result.ok else "failed").inc()
            if result.ok:
                await self._record_sent(request.request_id, delivery, name, result.detail)
                metrics.stage("created_to_notified", request.created_at, self.clock.now())
                log.info("end_user_notified", notifier=name, attempt=delivery.attempt)
                return
            await self.store.record_attempt(request.request_id, attempt=delivery.attempt, notifier=name,
                                            outcome="failed", detail=result.detail[:500], at=self.clock.now())
            log.warning("end_user_notification_failed", notifier=name, detail=result.detail,
                        permanent=result.permanent, attempt=delivery.attempt)
            failures.append(result)
        raise give_up_or_retry(failures)

    async def _take_in_hand(self, claims: list[Claim]) -> list[InHand | None]:
        notification = self.config().cibaEndUserNotificationConfig
        hold = timedelta(seconds=plugin_timeout(notification) * len(notifier_names(notification)) + 5)
        return await self.store.take_in_hand(claims, now=self.clock.now(), hold=hold)

    async def _record_sent(self, request_id: UUID, delivery: Delivery, notifier: str, detail: str) -> None:
        recorded = await self._sent.submit(Sent(
            delivery.event.message_id, request_id, delivery.attempt, notifier, detail[:500], self.clock.now()))
        if not recorded:
            raise AlreadyProcessed
        delivery.recorded = True

    async def _try(self, name: str, ctx: NotificationContext, notification: dict[str, Any]) -> NotificationResult:
        try:
            plugin = self.plugins.get(name)
        except UnknownNotifier as exc:
            return NotificationResult.failed(str(exc))
        return await run_plugin(plugin, ctx, plugin_timeout(notification))

    async def _forget_devices(self, sub: str, result: NotificationResult) -> None:
        if result.unregistered_devices:
            ids = [UUID(device_id) for device_id in result.unregistered_devices]
            removed = await self.store.forget_devices(ids, sub)
            log.info("devices_unregistered", count=removed)

    async def on_exhausted(self, event: AnyEvent, delivery: Delivery, reason: str) -> None:
        now = self.clock.now()
        names = ",".join(notifier_names(self.config().cibaEndUserNotificationConfig))
        async with delivery.transaction() as conn:
            failed = await self.store.gave_up(conn, event.request_id, attempt=delivery.attempt, notifier=names,
                                              reason=reason, at=now, service=self.service)
        if failed is not None:
            log.error("auth_request_failed", reason="end-user notification failed")
