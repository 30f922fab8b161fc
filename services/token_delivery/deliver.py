"""Handling the end of a request for the client: AuthRequestDecided, Expired or Failed.

Poll clients fetch their result at /token: nothing is sent. Ping and push clients get a POST
to their backchannel_client_notification_endpoint with ``Authorization: Bearer
<client_notification_token>``. Each attempt is recorded. A 200 or 204 is success; 408, 425,
429, 5xx and network failures are retried with back-off through the delay queues, within
backchannelDeliveryMaxAttempts and the request's lifetime; any other answer is the client's
final word. What cannot be delivered is dead-lettered and recorded on the request.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp

from services.token_delivery import payloads, queries
from shared import metrics
from shared.bus.consumer import AlreadyProcessed, Delivery, GiveUp, RetryLater
from shared.bus.topology import CONSUMERS, backoff_delay
from shared.domain.auth_request import AuthRequest
from shared.domain.token_issuance import Minter
from shared.events import AnyEvent, AuthRequestDecided, AuthRequestExpired
from shared.logging import get_logger
from shared.outbound import CallResult, post_json
from shared.repositories import attempts, auth_requests
from shared.repositories.clients import Client
from shared.runtime import Runtime
from shared.urls import check_callback_url

log = get_logger("ciba.delivery")


class DeliverToClient:
    consumer = "token-delivery"
    routing_keys = CONSUMERS[consumer]
    checks_processed = True  # queries.load skips an event already processed

    def __init__(self, rt: Runtime, http: aiohttp.ClientSession, minter: Minter) -> None:
        self.rt = rt
        self.http = http
        self.minter = minter

    async def handle(self, event: AnyEvent, delivery: Delivery) -> None:
        if event.delivery_mode == "poll":
            delivery.no_effect()
            log.info("delivery_not_needed", reason="poll client fetches its result at /token")
            return
        rt = self.rt
        loaded = await queries.load(rt.pool, consumer=self.consumer, message_id=event.message_id,
                                    request_id=event.request_id)
        if loaded is None or not loaded.client.backchannel_client_notification_endpoint:
            log.info("delivery_not_needed", reason="already delivered, or the request or client no longer exists")
            return
        request, client = loaded.request, loaded.client
        if (event.delivery_mode == "ping" and isinstance(event, AuthRequestExpired)
                and not rt.config.backchannelPingOnExpiry):
            await auth_requests.finish_delivery(rt.pool, request.id, "not_sent")
            log.info("delivery_not_needed", reason="backchannelPingOnExpiry is off")
            return
        deadline = request.expires_at + timedelta(seconds=rt.config.cibaGrantLifeExtraTimeSec)
        if rt.clock.now() >= deadline:
            raise GiveUp("the request's lifetime ended before the callback could be made")

        auth_req_id = rt.secrets.decrypt(request.auth_req_id_enc)
        payload = await self._payload(event, request, client, auth_req_id)
        result = await self._call(client, request, payload)
        outcome = result.outcome if result.outcome in ("delivered", "retry") else "failed"
        metrics.DELIVERY_ATTEMPTS.labels(event.delivery_mode, outcome).inc()
        if result.outcome == "delivered":
            if not await queries.record_delivered(
                    rt.pool, consumer=self.consumer, message_id=event.message_id, request_id=request.id,
                    attempt=delivery.attempt, mode=event.delivery_mode, status_code=result.status_code,
                    detail=result.detail, at=rt.clock.now()):
                raise AlreadyProcessed
            delivery.recorded = True
            if isinstance(event, AuthRequestDecided):
                metrics.stage("decided_to_delivered", request.decided_at, rt.clock.now())
            log.info("client_notified", delivery_mode=event.delivery_mode, status_code=result.status_code,
                     attempt=delivery.attempt)
            return
        await attempts.add_delivery(rt.pool, request.id, attempt=delivery.attempt, mode=event.delivery_mode,
                                    outcome=result.outcome, status_code=result.status_code,
                                    detail=result.detail, at=rt.clock.now())
        log.warning("client_notification_failed", delivery_mode=event.delivery_mode, detail=result.detail,
                    attempt=delivery.attempt, final=result.outcome == "final")
        if result.outcome == "final":
            raise GiveUp(result.detail)
        delay = backoff_delay(delivery.attempt)
        if rt.clock.now() + timedelta(seconds=delay) >= deadline:
            raise GiveUp(f"{result.detail}; a retry would fall after the request's lifetime")
        raise RetryLater(result.detail, delay=delay)

    async def _payload(self, event: AnyEvent, request: AuthRequest, client: Client,
                       auth_req_id: str) -> dict[str, Any]:
        if event.delivery_mode == "ping":
            return payloads.ping(auth_req_id)
        if isinstance(event, AuthRequestDecided) and event.decision == "approved":
            return await payloads.push_tokens(self.rt, self.minter, request, client, auth_req_id)
        return payloads.push_error(event, auth_req_id)

    async def _call(self, client: Client, request: AuthRequest, payload: dict[str, Any]) -> CallResult:
        url = client.backchannel_client_notification_endpoint or ""
        problem = check_callback_url(url, development=self.rt.settings.development)
        if problem:
            return CallResult("final", None, f"notification endpoint {problem}")
        bearer = self.rt.secrets.decrypt(request.client_notification_token_enc or "")
        return await post_json(self.http, url, payload, bearer=bearer,
                               timeout=self.rt.config.backchannelDeliveryTimeoutSec)

    async def on_exhausted(self, event: AnyEvent, delivery: Delivery, reason: str) -> None:
        if event.delivery_mode == "poll":
            return
        async with delivery.transaction() as conn:
            await attempts.add_delivery(conn, event.request_id, attempt=delivery.attempt,
                                        mode=event.delivery_mode, outcome="dead_lettered", status_code=None,
                                        detail=reason[:500], at=self.rt.clock.now())
            await auth_requests.finish_delivery(conn, event.request_id, "failed")
        log.error("client_notification_dead_lettered", reason=reason)
