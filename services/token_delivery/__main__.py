"""ciba-token-delivery: reaches the relying party in ping and push modes."""

from __future__ import annotations

import asyncio

from services.token_delivery.deliver import DeliverToClient
from shared.bus.service import consume_until_stopped
from shared.runtime import Runtime, run_service

SERVICE = "token-delivery"


async def body(rt: Runtime, stop: asyncio.Event) -> None:
    await consume_until_stopped(rt, stop, DeliverToClient(rt),
                                lambda: rt.config.backchannelDeliveryMaxAttempts)


def main() -> None:
    run_service(SERVICE, body)


if __name__ == "__main__":
    main()
