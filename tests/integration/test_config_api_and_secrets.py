"""The config API, and secrets inside server properties: stored encrypted, shown masked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from services.admin import commands
from services.gateway.__main__ import build_gateway
from services.gateway.app import add_management_routes, create_app
from shared.config.sealed import MASK
from shared.management import create_management_app
from shared.repositories import config as config_repo
from shared.runtime import open_runtime

ADMIN_TOKEN = "operator-token-for-tests"
NOTIFICATION = {"notifier": ["webhook", "log"],
                "webhook": {"url": "https://hooks.example/ciba", "secret": "hmac-key-123", "timeout": 5}}


@pytest.fixture
async def admin(settings, clock) -> AsyncIterator[TestClient]:
    with_token = settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    async with open_runtime(with_token, "gateway", clock=clock) as rt:
        gw = await build_gateway(rt)
        management = create_management_app(rt.readiness)
        add_management_routes(management, gw)
        async with TestClient(TestServer(management)) as client:
            yield client
        await gw.close()
        async with rt.pool.acquire() as conn:
            await config_repo.delete(conn, "cibaEndUserNotificationConfig")


AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_the_config_api_needs_the_operator_token(admin) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {ADMIN_TOKEN}"}):
        response = await admin.get("/admin/config", headers=headers)
        assert (response.status, (await response.json())["error"]) == (401, "invalid_token")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_config_api_is_off_without_a_token(gateway) -> None:
    management = create_management_app(gateway.rt.readiness)
    add_management_routes(management, gateway)
    async with TestClient(TestServer(management)) as client:
        assert (await client.get("/admin/config", headers=AUTH)).status == 404


async def test_the_config_api_is_not_on_the_public_port(settings, clock) -> None:
    with_token = settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    async with open_runtime(with_token, "gateway", clock=clock) as rt:
        gw = await build_gateway(rt)
        async with TestClient(TestServer(create_app(gw))) as public:
            for method in ("GET", "PUT", "DELETE"):
                response = await public.request(method, "/admin/config/backchannelAuthenticationResponseInterval",
                                                headers=AUTH, json=9)
                assert response.status == 404
        await gw.close()


async def test_put_stores_secrets_encrypted_and_every_read_masks_them(admin, pool, settings) -> None:
    response = await admin.put("/admin/config/cibaEndUserNotificationConfig", json=NOTIFICATION, headers=AUTH)
    assert response.status == 200, await response.text()
    shown = (await response.json())["cibaEndUserNotificationConfig"]
    assert shown["webhook"]["secret"] == MASK and shown["webhook"]["url"] == "https://hooks.example/ciba"
    one = await (await admin.get("/admin/config/cibaEndUserNotificationConfig", headers=AUTH)).json()
    assert one["cibaEndUserNotificationConfig"]["webhook"]["secret"] == MASK
    everything = await (await admin.get("/admin/config", headers=AUTH)).json()
    assert "hmac-key-123" not in str(everything)
    stored = await pool.fetchval("SELECT value::text FROM as_config WHERE key = 'cibaEndUserNotificationConfig'")
    assert "hmac-key-123" not in stored and "$sealed" in stored
    # The services read it unsealed.
    cli = await commands.config_get(settings, type("Args", (), {"key": "cibaEndUserNotificationConfig"})())
    assert cli["webhook"]["secret"] == MASK
    async with open_runtime(settings, "notifier") as rt:
        assert rt.config.cibaEndUserNotificationConfig["webhook"]["secret"] == "hmac-key-123"


async def test_a_bad_value_is_refused_naming_the_property(admin) -> None:
    response = await admin.put("/admin/config/backchannelAuthenticationResponseInterval", json=0, headers=AUTH)
    body = await response.json()
    assert (response.status, body["error"]) == (400, "invalid_request")
    assert "backchannelAuthenticationResponseInterval" in body["error_description"]
    unknown = await admin.put("/admin/config/noSuchProperty", json=1, headers=AUTH)
    assert unknown.status == 404


async def test_delete_returns_a_property_to_its_default(admin) -> None:
    await admin.put("/admin/config/backchannelAuthenticationResponseInterval", json=9, headers=AUTH)
    response = await admin.delete("/admin/config/backchannelAuthenticationResponseInterval", headers=AUTH)
    assert (await response.json()) == {"backchannelAuthenticationResponseInterval": 5}


async def test_a_notifier_list_is_accepted_and_an_empty_one_refused(admin) -> None:
    ok = await admin.put("/admin/config/cibaEndUserNotificationConfig",
                         json={"notifier": ["fcm", "email"]}, headers=AUTH)
    assert ok.status == 200
    bad = await admin.put("/admin/config/cibaEndUserNotificationConfig", json={"notifier": []}, headers=AUTH)
    assert bad.status == 400


@pytest.mark.parametrize("key", ["a%0Ab", "a%0D%0ASet-Cookie:%20x=1", "noSuchProperty", "%C3%A9t%C3%A9"])
async def test_an_unknown_key_is_a_json_404_whatever_it_contains(admin, key) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await admin.request(method, f"/admin/config/{key}", headers=AUTH, json=1)
        assert response.status == 404, (method, key, await response.text())
        body = await response.json()
        assert body["error"] == "not_found" and "\n" not in body.get("error_description", "")
        assert response.headers["Cache-Control"] == "no-store"
        assert "Set-Cookie" not in response.headers


async def test_a_value_json_cannot_store_is_refused(admin) -> None:
    response = await admin.put("/admin/config/cibaEndUserNotificationConfig", headers=AUTH,
                               data=b'{"notifier": "log", "log": {"level": NaN}}',
                               skip_auto_headers=["Content-Type"])
    assert response.status == 400
    response = await admin.put("/admin/config/cibaEndUserNotificationConfig", headers={
        **AUTH, "Content-Type": "application/json"}, data=b'{"notifier": "log", "log": {"level": NaN}}')
    assert (response.status, (await response.json())["error"]) == (400, "invalid_request")


async def test_unknown_routes_and_methods_are_catalogue_errors_with_no_store(http) -> None:
    missing = await http.get("/no/such/route")
    assert (missing.status, (await missing.json())["error"]) == (404, "not_found")
    assert missing.headers["Cache-Control"] == "no-store"
    wrong_method = await http.delete("/token")
    assert (wrong_method.status, (await wrong_method.json())["error"]) == (405, "invalid_request")
    assert wrong_method.headers["Cache-Control"] == "no-store" and "POST" in wrong_method.headers["Allow"]
