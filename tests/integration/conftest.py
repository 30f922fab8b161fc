"""Integration fixtures: the real database and broker of the test session, in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import pytest
from aiohttp import web
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


@pytest.fixture(autouse=True)
async def fresh_address_limits(pool: asyncpg.Pool) -> None:
    """Every in-process test signs in from 127.0.0.1: one test's failed sign-ins must not count
    against the next one's (deviceLoginMaxFailuresPerAddress)."""
    await pool.execute("DELETE FROM login_throttle WHERE key LIKE 'address:%'")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def runtime(settings: Settings, clock: FrozenClock) -> AsyncIterator[Runtime]:
    """A Runtime as a service has it, with a clock the test moves."""
    async with open_runtime(settings, "gateway", clock=clock) as rt:
        yield rt


@pytest.fixture
async def gateway(runtime: Runtime) -> AsyncIterator[Gateway]:
    gw = await build_gateway(runtime)
    yield gw
    await gw.close()


@pytest.fixture
async def http(gateway: Gateway) -> AsyncIterator[TestClient]:
    """The gateway app over real HTTP on 127.0.0.1, in this process."""
    async with TestClient(TestServer(create_app(gateway))) as client:
        yield client


@dataclass
class JwksServer:
    """A client's jwks_uri, served over HTTP on 127.0.0.1 (allowed in development)."""

    document: dict = field(default_factory=lambda: {"keys": []})
    fetches: int = 0
    url: str = ""


@pytest.fixture
async def jwks_server() -> AsyncIterator[JwksServer]:
    server = JwksServer()

    async def serve(_request: web.Request) -> web.Response:
        server.fetches += 1
        return web.json_response(server.document)

    app = web.Application()
    app.router.add_get("/jwks.json", serve)
    async with TestServer(app, host="127.0.0.1") as test_server:
        server.url = str(test_server.make_url("/jwks.json"))
        yield server
