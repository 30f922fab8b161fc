"""Creating and removing a test session's database and bus namespace."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg

from shared.bus.topology import ServiceQueues, events_exchange_name
from shared.db import migrate

BrokerControl = Callable[[list[str]], None]


def local_rabbitmqctl(args: list[str]) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@dataclass(frozen=True)
class Backing:
    database_url: str  # the test session's own database
    admin_database_url: str  # the same server's "postgres" database
    amqp_url: str
    namespace: str
    rabbitmqctl: BrokerControl  # runs rabbitmqctl where the broker runs (restart tests)


@contextmanager
def fresh_backing(server_urls: tuple[str, str, BrokerControl], label: str) -> Iterator[Backing]:
    """A new database (migrated) and bus namespace on the test servers, removed afterwards."""
    server_db, amqp, rabbitmqctl = server_urls
    name = f"ciba_{label}_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(server_db)
    admin = urlunsplit(parts._replace(path="/postgres"))
    database_url = urlunsplit(parts._replace(path=f"/{name}"))
    asyncio.run(create_database(admin, name, database_url))
    try:
        yield Backing(database_url, admin, amqp, name, rabbitmqctl)
    finally:
        asyncio.run(drop_namespace(amqp, name))
        asyncio.run(drop_database(admin, name))



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
