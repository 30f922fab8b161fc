"""The body shared by the services that consume events (notifier, token-delivery)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from shared.bus.connection import Bus
from shared.bus.consumer import ConsumerRunner, Handler
from shared.logging import get_logger
from shared.runtime import Runtime, start_watchers

log = get_logger("ciba.consumer")


async def connect_bus(rt: Runtime) -> Bus:
    """Connect to RabbitMQ, waiting for it at start like we wait for Postgres."""
    delay = 0.5
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        try:
            return await Bus.connect(rt.settings.amqp_url, rt.settings.bus_namespace,
                                     service=rt.service, prefetch=rt.settings.consumer_prefetch)
        except (OSError, ConnectionError) as exc:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise RuntimeError(f"message broker not reachable: {exc}") from exc
            log.warning("broker_not_ready", error=str(exc)[:200], retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def consume_until_stopped(rt: Runtime, stop: asyncio.Event, handler: Handler,
                                max_attempts: Callable[[], int]) -> None:
    start_watchers(rt)
    bus = await connect_bus(rt)
    runner = ConsumerRunner(bus, rt.pool, handler, max_attempts=max_attempts)
    try:
        await runner.start()
        log.info("service_ready")
        await stop.wait()
        log.info("service_stopping")
        await runner.stop(rt.settings.shutdown_grace_sec)
    finally:
        await bus.close()
