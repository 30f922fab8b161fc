"""Where the tests find Postgres and RabbitMQ (DESIGN.md, "Running"):

1. CIBA_TEST_DATABASE_URL / CIBA_TEST_AMQP_URL when set;
2. otherwise containers started with testcontainers when a Docker engine answers;
3. otherwise the local services on 127.0.0.1 (postgres trust auth, guest/guest).

Each test session creates its own database and bus namespace and removes both at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest

LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


BrokerControl = Callable[[list[str]], None]


def _local_rabbitmqctl(args: list[str]) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@dataclass(frozen=True)
class Backing:
    database_url: str  # the test session's own database
    admin_database_url: str  # the same server's "postgres" database
    amqp_url: str
    namespace: str
    rabbitmqctl: BrokerControl  # runs rabbitmqctl where the broker runs (restart tests)


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def server_urls() -> Iterator[tuple[str, str, BrokerControl]]:
    db = os.environ.get("CIBA_TEST_DATABASE_URL")
    amqp = os.environ.get("CIBA_TEST_AMQP_URL")
    if db and amqp:
        yield db, amqp, _local_rabbitmqctl
        return
    if not (db or amqp) and _docker_answers():
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        with PostgresContainer("postgres:16", driver=None) as pg, RabbitMqContainer("rabbitmq:3.13") as mq:
            params = mq.get_connection_params()

            def in_container(args: list[str]) -> None:
                code, output = mq.exec(["rabbitmqctl", *args])
                if code != 0:
                    raise RuntimeError(output)

            yield (pg.get_connection_url(),
                   f"amqp://guest:guest@{params.host}:{params.port}/", in_container)
        return
    yield db or LOCAL_DATABASE_URL, amqp or LOCAL_AMQP_URL, _local_rabbitmqctl


@pytest.fixture(scope="session")
def backing(server_urls: tuple[str, str, BrokerControl]) -> Iterator[Backing]:
    import asyncio

    from tests.support.backing import create_database, drop_database, drop_namespace

    server_db, amqp, rabbitmqctl = server_urls
    suffix = uuid.uuid4().hex[:10]
    name = f"ciba_test_{suffix}"
    parts = urlsplit(server_db)
    admin = urlunsplit(parts._replace(path="/postgres"))
    database_url = urlunsplit(parts._replace(path=f"/{name}"))
    asyncio.run(create_database(admin, name, database_url))
    try:
        yield Backing(database_url, admin, amqp, f"ciba_test_{suffix}", rabbitmqctl)
    finally:
        asyncio.run(drop_namespace(amqp, f"ciba_test_{suffix}"))
        asyncio.run(drop_database(admin, name))
