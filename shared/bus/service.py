"""The body shared by the services that consume events (notifier, token-delivery)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from shared.bus.connection import Bus
from shared.bus.consumer import ConsumerRunner, Handler
from shared.logging import get_logger
from shared.loops import GaveUp, retry_until
from shared.runtime import Runtime, start_watchers
from shared.settings import Settings

log = get_logger("ciba.consumer")


async def connect_bus(settings: Settings, service: str) -> Bus:
    """Connect to RabbitMQ, waiting for it at start like we wait for Postgres."""
    try:
        return await retry_until(
            lambda: Bus.connect(settings.amqp_url, settings.bus_namespace, service=service,
                                prefetch=settings.consumer_prefetch, queue_type=settings.bus_queue_type),
            timeout=settings.startup_wait_sec, retry_on=(OSError, ConnectionError), event="broker_not_ready")
    except GaveUp as exc:
        raise RuntimeError(f"message broker not reachable: {exc}") from None


async def consume_until_stopped(rt: Runtime, stop: asyncio.Event, handler: Handler,
                                max_attempts: Callable[[], int]) -> None:
    await start_watchers(rt)
    bus = await connect_bus(rt.settings, rt.service)
    rt.readiness.add("rabbitmq", bus.ready)
    runner = ConsumerRunner(bus, rt.pool, handler, max_attempts=max_attempts)
    try:
        await runner.start()
        await rt.serve_management()
        log.info("service_ready")
        await stop.wait()
        log.info("service_stopping")
        await runner.stop(rt.settings.shutdown_grace_sec)
    finally:
        await bus.close()
