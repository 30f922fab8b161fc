"""Samples what the autoscalers and alerts read, every few seconds: the outbox backlog and the
age of its oldest event (ciba_outbox_backlog, ciba_outbox_oldest_age_seconds), and the depth
of every work, retry and dead-letter queue as the broker reports it (ciba_queue_messages).

The request-processor owns the outbox and declares the queues, so it reports them; the
consumers' replicas then scale on one number each (deploy/k8s: KEDA reads the broker itself).
"""

from __future__ import annotations

import asyncio

import asyncpg

from shared import metrics
from shared.bus.connection import Bus
from shared.bus.topology import CONSUMERS, ServiceQueues
from shared.logging import get_logger
from shared.loops import run_periodically

log = get_logger("ciba.request_processor")

INTERVAL_SEC = 5.0


async def sample_outbox(pool: asyncpg.Pool) -> None:
    row = await pool.fetchrow(
        "SELECT count(*) AS backlog, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest FROM outbox")
    assert row is not None  # an aggregate without GROUP BY: always one row
    metrics.OUTBOX_BACKLOG.set(row["backlog"])
    metrics.OUTBOX_OLDEST_AGE.set(max(0.0, float(row["oldest"])))


async def sample_queues(bus: Bus) -> None:
    """A passive declare per queue, on a channel of its own: a queue that is missing closes
    that channel, not the one the relay publishes on."""
    channel = await bus.connection.channel()
    try:
        for consumer in CONSUMERS:
            for name in ServiceQueues(bus.namespace, consumer).all_names():
                queue = await channel.declare_queue(name, passive=True)
                metrics.QUEUE_MESSAGES.labels(name).set(queue.declaration_result.message_count or 0)
    finally:
        if not channel.is_closed:
            await channel.close()


async def run(pool: asyncpg.Pool, bus: Bus, stop: asyncio.Event) -> None:
    async def work() -> None:
        await sample_outbox(pool)
        await sample_queues(bus)

    await run_periodically(stop, "backlog_metrics", work, lambda: INTERVAL_SEC)
