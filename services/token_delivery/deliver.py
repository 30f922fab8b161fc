"""Handling the end of a request for the client: AuthRequestDecided / Expired / Failed.

Poll clients fetch their result at /token, so nothing is sent to them; the event is recorded
as handled. Ping and push delivery are built on this handler (see the README's roadmap).
"""

from __future__ import annotations

from shared.bus.consumer import Delivery
from shared.events import AnyEvent
from shared.logging import get_logger
from shared.runtime import Runtime

log = get_logger("ciba.delivery")


class DeliverToClient:
    consumer = "token-delivery"
    routing_keys = ("auth_request.decided", "auth_request.expired", "auth_request.failed")

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def handle(self, event: AnyEvent, delivery: Delivery) -> None:
        if event.delivery_mode == "poll":
            log.info("delivery_not_needed", reason="poll client fetches its result at /token")
            return
        log.warning("delivery_mode_not_available", delivery_mode=event.delivery_mode)

    async def on_exhausted(self, event: AnyEvent, delivery: Delivery, reason: str) -> None:
        log.error("delivery_gave_up", reason=reason)
