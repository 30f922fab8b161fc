"""Creating and removing a test session's database and bus namespace."""

from __future__ import annotations

import aio_pika
import asyncpg

from shared.bus.topology import ServiceQueues, events_exchange_name
from shared.db import migrate

CONSUMERS = ("notifier", "token-delivery", "test-consumer", "test-consumer-2")


async def create_database(admin_url: str, name: str, database_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    db = await asyncpg.connect(database_url)
    try:
        await migrate.upgrade(db)
    finally:
        await db.close()


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


async def drop_namespace(amqp_url: str, namespace: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        for consumer in CONSUMERS:
            for queue in ServiceQueues(namespace, consumer).all_names():
                channel = await connection.channel()
                try:
                    await channel.queue_delete(queue)
                except aio_pika.exceptions.ChannelClosed:
                    pass
        channel = await connection.channel()
        await channel.exchange_delete(events_exchange_name(namespace))
    finally:
        await connection.close()
