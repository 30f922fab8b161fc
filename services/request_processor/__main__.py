"""ciba-request-processor: time and the lifecycle (outbox relay, expiry sweep, recovery of
requests whose created event was lost), housekeeping, and vacuuming the queue-like tables
when Postgres's autovacuum is off."""

from __future__ import annotations

import asyncio

from services.request_processor import backlog_metrics, expiry_sweep, housekeeping, recovery, retention, vacuum
from services.request_processor.outbox_relay import OutboxRelay
from shared.bus.service import connect_bus
from shared.bus.topology import declare_consumer_topology
from shared.logging import get_logger
from shared.runtime import Runtime, run_service, start_watchers

SERVICE = "request-processor"
log = get_logger("ciba.request_processor")


async def body(rt: Runtime, stop: asyncio.Event) -> None:
    bus = await connect_bus(rt.settings, rt.service)
    try:  # the connection is closed however the start fails
        rt.readiness.add("rabbitmq", bus.ready)
        await declare_consumer_topology(bus.channel, bus.namespace, bus.exchange, bus.queue_type)
        pool, clock, secrets = rt.pool, rt.clock, rt.secrets
        relay = OutboxRelay(pool, bus, secrets, clock)
        relay.attach(rt.listener)
        await start_watchers(rt)

        config = rt.current_config  # the loops see a change at their next round
        # Supervised: a loop that dies fails readiness and then the process (exit 1).
        loops = [
            rt.start_side_task(relay.run(stop), "outbox-relay"),
            rt.start_side_task(expiry_sweep.run(pool, clock, config, rt.service, stop), "expiry-sweep"),
            rt.start_side_task(recovery.run(pool, secrets, clock, config, stop), "recovery"),
            rt.start_side_task(housekeeping.run(pool, clock, stop), "housekeeping"),
            rt.start_side_task(retention.run(pool, clock, config, stop), "retention"),
            rt.start_side_task(vacuum.run(pool, stop), "vacuum"),
            rt.start_side_task(backlog_metrics.run(pool, bus, stop), "backlog-metrics"),
        ]
        await rt.serve_management()
        log.info("service_ready")
        await stop.wait()
        log.info("service_stopping")
        # The loops finish the batch in hand and return once they see ``stop``.
        await asyncio.wait(loops, timeout=rt.settings.shutdown_grace_sec)
        for loop in loops:
            loop.cancel()
    finally:
        await bus.close()


def main() -> None:
    run_service(SERVICE, body)


if __name__ == "__main__":
    main()
