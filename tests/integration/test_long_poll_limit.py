"""CIBA_LONG_POLL_MAX_HELD bounds the polls one gateway process holds open; past it a poll is
answered at once, as an ordinary poll."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.__main__ import build_gateway
from services.gateway.app import create_app
from services.gateway.context import Gateway
from shared.runtime import open_runtime
from tests.support.gateway_client import CIBA_GRANT, Client, add_user, register


@pytest.fixture
async def one_hold(settings, clock) -> AsyncIterator[tuple[TestClient, Gateway]]:
    async with open_runtime(settings.model_copy(update={"long_poll_max_held": 1}), "gateway", clock=clock) as rt:
        gw = await build_gateway(rt)
        async with TestClient(TestServer(create_app(gw))) as client:
            yield client, gw
        await gw.close()


async def start(http: TestClient, gw: Gateway, client: Client) -> str:
    user = await add_user(gw)
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": user.username},
                               headers=client.basic)
    return (await response.json())["auth_req_id"]


async def long_poll(http: TestClient, client: Client, auth_req_id: str) -> dict:
    response = await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id},
                               headers={**client.basic, "Prefer": "wait=3"})
    return await response.json()


async def test_a_poll_beyond_the_limit_is_answered_at_once(one_hold) -> None:
    http, gw = one_hold
    client = await register(http)
    first, second = await start(http, gw, client), await start(http, gw, client)
    held = asyncio.ensure_future(long_poll(http, client, first))
    for _ in range(200):
        if gw.waiters.full:
            break
        await asyncio.sleep(0.01)
    assert gw.waiters.full, "the first poll was not held"
    answer = await long_poll(http, client, second)
    assert answer["error"] == "authorization_pending"
    assert not held.done()  # the first is still held while the second was answered
    assert (await held)["error"] == "authorization_pending"
    assert not gw.waiters.full
