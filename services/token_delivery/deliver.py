"""Handling the end of a request for the client: AuthRequestDecided, Expired or Failed.

Poll clients fetch their result at /token: nothing is sent. Ping and push clients get a POST
to their backchannel_client_notification_endpoint with ``Authorization: Bearer
<client_notification_token>``. Each attempt is recorded. A 200 or 204 is success; 408, 425,
429, 5xx and network failures are retried with back-off through the delay queues, within
backchannelDeliveryMaxAttempts and the request's lifetime; any other answer is the client's
final word. What cannot be delivered is dead-lettered and recorded on the request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from services.token_delivery import payloads
from services.token_delivery.queries import Callback
from shared import metrics
from shared.bus.consumer import AlreadyProcessed, Delivery, GiveUp, RetryLater
from shared.bus.topology import CONSUMERS, backoff_delay
from shared.clock import Clock
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.db import Connection
from shared.domain.auth_request import AuthRequest, DeliveryMode
from shared.events import AnyEvent, AuthRequestDecided, AuthRequestExpired
from shared.logging import get_logger
from shared.outbound import CallResult
from shared.repositories.clients import Client
from shared.urls import check_callback_url

log = get_logger("ciba.delivery")


class Callbacks(Protocol):
    """What a callback reads and records (services.token_delivery.stores.PostgresCallbacks)."""

    async def load(self, message_id: UUID, request_id: UUID) -> Callback | None:
        """The request and its client, unless the event was processed or either is gone."""
        ...

    async def not_sent(self, request_id: UUID) -> None: ...

    async def record_delivered(self, message_id: UUID, request_id: UUID, *, attempt: int, mode: str,
                               status_code: int | None, detail: str, at: datetime) -> bool:
        """The event processed and the callback done; False when another delivery recorded it."""
        ...

    async def record_attempt(self, request_id: UUID, *, attempt: int, mode: str, outcome: str,
                             status_code: int | None, detail: str, at: datetime) -> None: ...

    async def dead_lettered(self, conn: Connection, request_id: UUID, *, attempt: int, mode: str, reason: str,
                            at: datetime) -> None:
        """In the consumer's transaction: the last attempt recorded and the delivery failed."""
        ...


class CallbackPoster(Protocol):
    """``shared.outbound.post_json`` on the service's guarded session."""

    async def __call__(self, url: str, payload: dict[str, Any], *, bearer: str, timeout: float) -> CallResult: ...


class DeliverToClient:
    consumer = "token-delivery"
    routing_keys = CONSUMERS[consumer]
    checks_processed = True  # Callbacks.load skips an event already processed

    def __init__(self, callbacks: Callbacks, tokens: payloads.PushTokens, post: CallbackPoster, *,
                 secrets: Secrets, clock: Clock, config: Callable[[], ServerConfig], development: bool) -> None:
        self.callbacks = callbacks
        self.tokens = tokens
        self.post = post
        self.secrets = secrets
        self.clock = clock
        self.config = config
        """The live configuration, read once per message."""
        self.development = development

    async def handle(self, event: AnyEvent, delivery: Delivery) -> None:
        if event.delivery_mode == DeliveryMode.POLL:
            delivery.no_effect()
            log.info("delivery_not_needed", reason="poll client fetches its result at /token")
            return
        loaded = await self.callbacks.load(event.message_id, event.request_id)
        if loaded is None or not loaded.client.backchannel_client_notification_endpoint:
            log.info("delivery_not_needed", reason="already delivered, or the request or client no longer exists")
            return
        request, client = loaded.request, loaded.client
        config = self.config()
        if (event.delivery_mode == DeliveryMode.PING and isinstance(event, AuthRequestExpired)
                and not config.backchannelPingOnExpiry):
            await self.callbacks.not_sent(request.id)
            log.info("delivery_not_needed", reason="backchannelPingOnExpiry is off")
            return
        deadline = request.expires_at + timedelta(seconds=config.cibaGrantLifeExtraTimeSec)
        if self.clock.now() >= deadline:
            raise GiveUp("the request's lifetime ended before the callback could be made")

        auth_req_id = self.secrets.decrypt(request.auth_req_id_enc)
        payload = await self._payload(event, request, client, auth_req_id, config)
        result = await self._call(client, request, payload, config)
        outcome = result.outcome if result.outcome in ("delivered", "retry") else "failed"
        metrics.DELIVERY_ATTEMPTS.labels(event.delivery_mode, outcome).inc()
        if result.outcome == "delivered":
            await self._delivered(event, request, delivery, result)
        else:
            await self._not_delivered(event, request, delivery, result, deadline)

    async def _delivered(self, event: AnyEvent, request: AuthRequest, delivery: Delivery,
                         result: CallResult) -> None:
        if not await self.callbacks.record_delivered(
                event.message_id, request.id, attempt=delivery.attempt, mode=event.delivery_mode,
                status_code=result.status_code, detail=result.detail, at=self.clock.now()):
            raise AlreadyProcessed
        delivery.recorded = True
        if isinstance(event, AuthRequestDecided):
            metrics.stage("decided_to_delivered", request.decided_at, self.clock.now())
        log.info("client_notified", delivery_mode=event.delivery_mode, status_code=result.status_code,
                 attempt=delivery.attempt)

    async def _not_delivered(self, event: AnyEvent, request: AuthRequest, delivery: Delivery, result: CallResult,
                             deadline: datetime) -> None:
        """Record the attempt, then give up on a final answer or one a retry cannot beat the
        request's lifetime with; retry with back-off otherwise."""
        await self.callbacks.record_attempt(request.id, attempt=delivery.attempt, mode=event.delivery_mode,
                                            outcome=result.outcome, status_code=result.status_code,
                                            detail=result.detail, at=self.clock.now())
        log.warning("client_notification_failed", delivery_mode=event.delivery_mode, detail=result.detail,
                    attempt=delivery.attempt, final=result.outcome == "final")
        if result.outcome == "final":
            raise GiveUp(result.detail)
        delay = backoff_delay(delivery.attempt)
        if self.clock.now() + timedelta(seconds=delay) >= deadline:
            raise GiveUp(f"{result.detail}; a retry would fall after the request's lifetime")
        raise RetryLater(result.detail, delay=delay)

    async def _payload(self, event: AnyEvent, request: AuthRequest, client: Client, auth_req_id: str,
                       config: ServerConfig) -> dict[str, Any]:
        if event.delivery_mode == DeliveryMode.PING:
            return payloads.ping(auth_req_id)
        if isinstance(event, AuthRequestDecided) and event.decision == "approved":
            return await payloads.push_tokens(self.tokens, self.secrets, request, client, auth_req_id,
                                              config=config, now=self.clock.now())
        return payloads.push_error(event, auth_req_id)

    async def _call(self, client: Client, request: AuthRequest, payload: dict[str, Any],
                    config: ServerConfig) -> CallResult:
        url = client.backchannel_client_notification_endpoint or ""
        problem = check_callback_url(url, development=self.development)
        if problem:
            return CallResult("final", None, f"notification endpoint {problem}")
        bearer = self.secrets.decrypt(request.client_notification_token_enc or "")
        return await self.post(url, payload, bearer=bearer, timeout=config.backchannelDeliveryTimeoutSec)

    async def on_exhausted(self, event: AnyEvent, delivery: Delivery, reason: str) -> None:
        if event.delivery_mode == DeliveryMode.POLL:
            return
        async with delivery.transaction() as conn:
            await self.callbacks.dead_lettered(conn, event.request_id, attempt=delivery.attempt,
                                               mode=event.delivery_mode, reason=reason, at=self.clock.now())
        log.error("client_notification_dead_lettered", reason=reason)
