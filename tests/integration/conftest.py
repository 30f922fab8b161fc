"""Integration fixtures: the real database and broker of the test session, in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.__main__ import build_gateway
from services.gateway.app import create_app
from services.gateway.context import Gateway
from shared.clock import FrozenClock
from shared.db.pool import create_pool
from shared.runtime import Runtime, open_runtime
from shared.settings import Settings

ISSUER = "http://127.0.0.1:9"


@pytest.fixture(scope="session")
def settings(backing) -> Settings:
    return Settings(env="development", database_url=backing.database_url, amqp_url=backing.amqp_url,
                    bus_namespace=backing.namespace, issuer=ISSUER, migrate_on_start=False,
                    log_format="console")


@pytest.fixture(scope="session")
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.database_url, min_size=1, max_size=5)
    yield pool
    await pool.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def runtime(settings: Settings, clock: FrozenClock) -> AsyncIterator[Runtime]:
    """A Runtime as a service has it, with a clock the test moves."""
    async with open_runtime(settings, "gateway", clock=clock) as rt:
        yield rt


@pytest.fixture
async def gateway(runtime: Runtime) -> Gateway:
    return await build_gateway(runtime)


@pytest.fixture
async def http(gateway: Gateway) -> AsyncIterator[TestClient]:
    """The gateway app over real HTTP on 127.0.0.1, in this process."""
    async with TestClient(TestServer(create_app(gateway))) as client:
        yield client
