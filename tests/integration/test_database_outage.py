"""While Postgres is unreachable the gateway answers 503 temporarily_unavailable with
Retry-After (JSON on the protocol endpoints, a page on the device pages), never a 500 and
never a hang past CIBA_HTTP_REQUEST_TIMEOUT_SEC; once it is back, requests succeed again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.__main__ import build_gateway
from services.gateway.app import create_app
from services.gateway.context import Gateway
from shared.domain.token_issuance import issue_for_request
from shared.repositories import auth_requests, clients
from shared.runtime import open_runtime
from tests.support.fault_proxy import FaultProxy
from tests.support.gateway_client import Client, add_user, decide, register


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


async def test_tokens_whose_answer_was_lost_after_the_commit_are_still_handed_out(
        proxied, postgres_proxy, settings) -> None:
    """The chaos campaign's 'postgres cut 5 s' once lost a flow: the exchange committed, the
    connection broke before its answer arrived, the gateway said 503, and the client's retry
    heard 'tokens were already issued'. Now the exchange asks again whether its tokens were
    recorded, and hands them out."""
    http, gw = proxied
    client = await register(http)
    user = await add_user(gw)
    started = await bc_authorize(http, client, user.username)
    auth_req_id = (await started.json())["auth_req_id"]
    await decide(gw, auth_req_id, approved=True)
    request = await auth_requests.get_by_hash(gw.rt.pool, gw.rt.secrets.hashes(auth_req_id))
    record = await clients.get(gw.rt.pool, client.client_id)
    direct = await asyncpg.connect(settings.database_url)
    try:
        # Every byte through the proxy takes 0.5 s each way: the commit happens while the
        # answer is still on its way back, and the cut drops it.
        postgres_proxy.delay(0.5)
        exchange = asyncio.ensure_future(issue_for_request(
            gw.rt.pool, gw.minter, request, record, config=gw.rt.config, now=gw.rt.clock.now(),
            service="gateway"))
        for _ in range(200):
            if await direct.fetchval("SELECT status FROM auth_requests WHERE id = $1", request.id) == "tokens_issued":
                break
            await asyncio.sleep(0.01)
        postgres_proxy.cut()
        assert not exchange.done()
        await asyncio.sleep(0.3)
        postgres_proxy.pass_through()
        token_set = await asyncio.wait_for(exchange, 15)
        assert token_set is not None and token_set.id_token and token_set.refresh_token
        # What the client holds is what was stored: its refresh token works.
        refreshed = await http.post("/token", headers=client.basic, data={
            "grant_type": "refresh_token", "refresh_token": token_set.refresh_token})
        assert refreshed.status == 200, await refreshed.text()
    finally:
        postgres_proxy.pass_through()
        await direct.close()
