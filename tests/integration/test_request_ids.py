"""Every gateway answer carries X-Request-Id, the request_id on its log lines: the one a
trusted proxy (CIBA_TRUSTED_PROXIES) sent, else a new one. Anyone else's header is ignored,
so a client cannot write into the operator's correlation ids."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.__main__ import build_gateway
from services.gateway.app import create_app
from shared.runtime import open_runtime


@pytest.fixture
async def behind_proxy(settings, clock) -> AsyncIterator[TestClient]:
    proxied = settings.model_copy(update={"trusted_proxies": ["127.0.0.1/32"]})
    async with open_runtime(proxied, "gateway", clock=clock) as rt:
        gw = await build_gateway(rt)
        async with TestClient(TestServer(create_app(gw))) as client:
            yield client
        await gw.close()


async def test_a_trusted_proxys_request_id_is_kept(behind_proxy) -> None:
    answer = await behind_proxy.get("/.well-known/openid-configuration", headers={"X-Request-Id": "lb-7f3a.9"})
    assert answer.headers["X-Request-Id"] == "lb-7f3a.9"


async def test_a_malformed_request_id_is_replaced_even_from_a_trusted_proxy(behind_proxy) -> None:
    answer = await behind_proxy.get("/jwks", headers={"X-Request-Id": "x" * 65})
    assert re.fullmatch(r"[0-9a-f]{12}", answer.headers["X-Request-Id"])


async def test_without_a_trusted_proxy_the_header_is_ignored_and_each_answer_gets_its_own(http) -> None:
    first = await http.get("/jwks", headers={"X-Request-Id": "chosen-by-the-client"})
    second = await http.post("/token", data={})  # an error answer gets one too
    ids = [first.headers["X-Request-Id"], second.headers["X-Request-Id"]]
    assert all(re.fullmatch(r"[0-9a-f]{12}", value) for value in ids) and ids[0] != ids[1]
