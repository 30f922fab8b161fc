"""Where the tests find Postgres and RabbitMQ (docs/architecture.md, "Running"):

1. CIBA_TEST_DATABASE_URL / CIBA_TEST_AMQP_URL when set;
2. otherwise containers started with testcontainers when a Docker engine answers;
3. otherwise the local services on 127.0.0.1 (postgres trust auth, guest/guest).

Each test session creates its own database and bus namespace and removes both at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.backing import Backing, BrokerControl, fresh_backing, local_rabbitmqctl
from tests.support.callback import CallbackServer
from tests.support.tls import TestPKI, make_pki
from tests.support.webhook import WebhookReceiver

LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


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
        yield db, amqp, local_rabbitmqctl
        return
    if not (db or amqp) and _docker_answers():
        try:  # testcontainers >= 4.14 moved the modules under "community"
            from testcontainers.community.postgres import PostgresContainer
            from testcontainers.community.rabbitmq import RabbitMqContainer
        except ImportError:
            from testcontainers.postgres import PostgresContainer
            from testcontainers.rabbitmq import RabbitMqContainer

        postgres_image = os.environ.get("CIBA_POSTGRES_IMAGE", "postgres:16")
        rabbitmq_image = os.environ.get("CIBA_RABBITMQ_IMAGE", "rabbitmq:3.13")
        with PostgresContainer(postgres_image, driver=None) as pg, RabbitMqContainer(rabbitmq_image) as mq:
            params = mq.get_connection_params()

            def in_container(args: list[str]) -> None:
                code, output = mq.exec(["rabbitmqctl", *args])
                if code != 0:
                    raise RuntimeError(output)

            yield (pg.get_connection_url(),
                   f"amqp://guest:guest@{params.host}:{params.port}/", in_container)
        return
    yield db or LOCAL_DATABASE_URL, amqp or LOCAL_AMQP_URL, local_rabbitmqctl


@pytest.fixture(scope="session")
def backing(server_urls: tuple[str, str, BrokerControl]) -> Iterator[Backing]:
    """The in-process tests' database and namespace (the e2e suite has its own)."""
    with fresh_backing(server_urls, "test") as created:
        yield created


# The local peers of the tiers that run the services as processes (e2e, chaos).


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """A throwaway CA whose certificate the services trust for their outbound calls."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
async def webhook() -> AsyncIterator[WebhookReceiver]:
    """The operator's notification webhook: where the user's sign-in links arrive."""
    receiver = WebhookReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture(scope="session")
async def callbacks(pki: TestPKI) -> AsyncIterator[CallbackServer]:
    """The relying parties' client notification endpoint (HTTPS, ping and push)."""
    server = CallbackServer(pki)
    await server.start()
    yield server
    await server.stop()
