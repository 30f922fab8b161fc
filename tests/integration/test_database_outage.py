"""While Postgres is unreachable the gateway answers 503 temporarily_unavailable with
Retry-After (JSON on the protocol endpoints, a page on the device pages), never a 500 and
never a hang past CIBA_HTTP_REQUEST_TIMEOUT_SEC; once it is back, requests succeed again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.__main__ import build_gateway
from services.gateway.app import create_app
from services.gateway.context import Gateway
from shared.runtime import open_runtime
from tests.support.fault_proxy import FaultProxy
from tests.support.gateway_client import Client, add_user, register


@pytest.fixture
def postgres_proxy(settings) -> Iterator[FaultProxy]:
    parts = urlsplit(settings.database_url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    yield proxy
    proxy.stop()


@pytest.fixture
async def proxied(settings, clock, postgres_proxy) -> AsyncIterator[tuple[TestClient, Gateway]]:
    through_proxy = settings.model_copy(update={"database_url": postgres_proxy.rewrite(settings.database_url),
                                                "http_request_timeout_sec": 2.0,
                                                "db_connect_timeout_sec": 1.0})
    async with open_runtime(through_proxy, "gateway", clock=clock) as rt:
        gw = await build_gateway(rt)
        async with TestClient(TestServer(create_app(gw))) as client:
            yield client, gw
        await gw.close()


async def bc_authorize(http: TestClient, client: Client, hint: str) -> aiohttp.ClientResponse:
    return await http.post("/bc-authorize", data={"scope": "openid", "login_hint": hint}, headers=client.basic,
                           timeout=aiohttp.ClientTimeout(total=10))


def assert_temporarily_unavailable(response: aiohttp.ClientResponse, body: dict) -> None:
    assert (response.status, body["error"]) == (503, "temporarily_unavailable"), body
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["Cache-Control"] == "no-store"


async def test_a_cut_database_is_503_temporarily_unavailable_and_then_service_resumes(
        proxied, postgres_proxy) -> None:
    http, gw = proxied
    client = await register(http)
    user = await add_user(gw)
    with postgres_proxy.cut_off():
        response = await bc_authorize(http, client, user.username)
        assert_temporarily_unavailable(response, await response.json())
        poll = await http.post("/token", headers=client.basic, timeout=aiohttp.ClientTimeout(total=10),
                               data={"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": "x" * 43})
        assert_temporarily_unavailable(poll, await poll.json())
        page = await http.get("/device/" + "r" * 43, timeout=aiohttp.ClientTimeout(total=10))
        assert page.status == 503 and page.content_type == "text/html" and "Retry-After" in page.headers
        assert (await http.get("/health/ready")).status == 503
        # What needs no database keeps answering.
        assert (await http.get("/.well-known/openid-configuration")).status == 200
    response = await bc_authorize(http, client, user.username)
    assert response.status == 200, await response.text()


async def test_a_hanging_database_is_503_once_the_request_timeout_passes(proxied, postgres_proxy) -> None:
    http, gw = proxied
    client = await register(http)
    user = await add_user(gw)
    postgres_proxy.delay(6)  # every byte to and from Postgres now takes 6 s
    try:
        response = await bc_authorize(http, client, user.username)  # the client would wait 10 s
        assert_temporarily_unavailable(response, await response.json())
    finally:
        postgres_proxy.pass_through()
