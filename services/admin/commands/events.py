"""ciba-admin dlq and outbox: events whose attempts are spent (the dead-letter queues), and
events the broker kept refusing (parked in the outbox)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika

from services.admin import dlq
from services.admin.commands.common import CommandError, database
from shared.bus.connection import Bus
from shared.repositories import outbox
from shared.settings import Settings


@asynccontextmanager
async def _bus(settings: Settings) -> AsyncIterator[Bus]:
    try:
        bus = await Bus.connect(settings.amqp_url, settings.bus_namespace, service="admin",
                                queue_type=settings.bus_queue_type)
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        raise CommandError(f"RabbitMQ not reachable: {exc}") from None
    try:
        yield bus
    except aio_pika.exceptions.ChannelNotFoundEntity as exc:
        raise CommandError(f"no such queue (has the service ever started?): {exc}") from None
    finally:
        await bus.close()


async def dlq_list(settings: Settings, args: argparse.Namespace) -> Any:
    if not 0 <= args.sample <= 1000:
        raise CommandError("--sample must be 0 to 1000")
    async with _bus(settings) as bus:
        return await dlq.listing(bus, [args.service] if args.service else list(dlq.SERVICES), args.sample)


async def dlq_replay(settings: Settings, args: argparse.Namespace) -> Any:
    if args.limit is not None and args.limit < 1:
        raise CommandError("--limit must be at least 1")
    async with _bus(settings) as bus:
        return await dlq.replay(bus, args.service, args.limit)


async def dlq_purge(settings: Settings, args: argparse.Namespace) -> Any:
    async with _bus(settings) as bus:
        return await dlq.purge(bus, args.service)


async def outbox_list(settings: Settings, args: argparse.Namespace) -> Any:
    """Events the broker kept refusing, set aside so later ones flow (shared.repositories.outbox)."""
    async with database(settings) as conn:
        parked = await outbox.list_parked(conn)
    return [{"id": row.id, "message_id": str(row.message_id), "event_type": row.routing_key,
             "request_id": str(row.auth_request_id) if row.auth_request_id else None,
             "attempts": row.attempts, "last_error": row.last_error, "created_at": row.created_at,
             "parked_at": row.parked_at} for row in parked]


async def outbox_retry(settings: Settings, args: argparse.Namespace) -> Any:
    if not args.all and not args.ids:
        raise CommandError("name the parked rows to send again (their ids), or --all")
    async with database(settings) as conn:
        requeued = await outbox.unpark(conn, None if args.all else args.ids)
    return {"requeued": requeued}
