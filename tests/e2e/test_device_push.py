"""Reaching the user's phone for real: a device registered at /bc-deviceRegistration gets an
FCM message (through a local fake FCM speaking the HTTP v1 protocol), the user approves
through the link it carries, and the relying party gets its tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.e2e.conftest import Account
from tests.support.browser import decide_on_device
from tests.support.fake_fcm import FakeFcm
from tests.support.rp import RegisteredClient, RelyingParty
from tests.support.stack import Stack
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e


@pytest.fixture
async def fcm() -> AsyncIterator[FakeFcm]:
    fake = FakeFcm()
    await fake.start()
    yield fake
    await fake.stop()


async def _approve(url: str, user: Account) -> None:
    result = await decide_on_device(url, user.username, user.password)
    assert result.status == 200, result.html


@pytest.fixture
async def authenticator_app(stack: Stack, rp: RelyingParty) -> AsyncIterator[RegisteredClient]:
    """The operator's authenticator app: a client allowed to register devices."""
    client = await rp.register(client_name="Authenticator")
    stack.admin("config", "set", "backchannelDeviceRegistrationClients", json.dumps([client.client_id]))
    yield client
    stack.admin("config", "unset", "backchannelDeviceRegistrationClients")


async def _id_token(rp: RelyingParty, webhook: WebhookReceiver, user: Account, client: RegisteredClient) -> str:
    """What the user's mobile app holds after signing in once (here: through a CIBA flow)."""
    auth_req_id = (await rp.bc_authorize(client, login_hint=user.username)).body["auth_req_id"]
    await _approve((await webhook.next_for(user.username)).payload["authorization_url"], user)
    return (await rp.token(client, auth_req_id)).body["id_token"]


async def _register_device(stack: Stack, app: RegisteredClient, id_token: str, token: str) -> str:
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.issuer}/bc-deviceRegistration", headers=app.auth_header,
            data={"id_token_hint": id_token, "device_registration_token": token}) as response:
        body = await response.json()
    assert response.status == 200, body
    return body["device_registration_id"]


async def test_a_registered_device_gets_the_push_and_the_user_approves_through_it(
        stack, rp, webhook, user, fcm: FakeFcm, notification_config, authenticator_app) -> None:
    id_token = await _id_token(rp, webhook, user, authenticator_app)
    phone = await _register_device(stack, authenticator_app, id_token, "fcm-token-phone")
    await _register_device(stack, authenticator_app, id_token, "fcm-token-old-tablet")
    fcm.answers["fcm-token-old-tablet"] = "UNREGISTERED"
    await notification_config({"notifier": "fcm", "fcm": fcm.config(fcm.service_account())})

    client = await rp.register(client_name="Smart TV")
    auth_req_id = (await rp.bc_authorize(client, login_hint=user.email,
                                         binding_message="TV 9K2")).body["auth_req_id"]
    for _ in range(150):
        if fcm.sent_to("fcm-token-phone"):
            break
        await asyncio.sleep(0.1)
    [message] = fcm.sent_to("fcm-token-phone")
    data = message.message["data"]
    assert data["client_name"] == "Smart TV" and data["binding_message"] == "TV 9K2"
    assert data["authorization_url"].startswith(f"{stack.issuer}/device/")
    assert auth_req_id not in str(message.message)

    await _approve(data["authorization_url"], user)
    tokens = await rp.token(client, auth_req_id)
    assert tokens.status == 200 and (await rp.verify_id_token(tokens.body["id_token"]))["sub"] == user.sub

    # FCM said the tablet's token is dead: its registration is gone, the phone's is kept.
    for _ in range(50):
        listed = await stack.admin_async("device", "list", user.username)
        if len(listed) == 1:
            break
        await asyncio.sleep(0.1)
    assert [d["device_registration_id"] for d in listed] == [phone]
    shown = stack.admin("request", "show", auth_req_id)
    assert [(n["notifier"], n["outcome"]) for n in shown["notifications"]] == [("fcm", "sent")]


async def test_without_a_device_the_fallback_plugin_reaches_the_user(
        stack, rp, webhook, user, fcm: FakeFcm, notification_config) -> None:
    fallback = {"notifier": ["fcm", "webhook"], "fcm": fcm.config(fcm.service_account()),
                "webhook": {"url": webhook.url, "secret": "fallback-secret", "timeout": 5}}
    await notification_config(fallback)
    client = await rp.register()
    auth_req_id = (await rp.bc_authorize(client, login_hint=user.username)).body["auth_req_id"]
    note = await webhook.next_for(user.username)
    assert note.payload["user"]["username"] == user.username
    shown = stack.admin("request", "show", auth_req_id)
    assert [(n["notifier"], n["outcome"]) for n in shown["notifications"]] == [("fcm", "failed"),
                                                                              ("webhook", "sent")]
    assert "no device" in shown["notifications"][0]["detail"]


async def test_a_plugin_from_an_installed_package_runs_in_the_notifier(
        stack, rp, user, notification_config, tmp_path) -> None:
    """examples/ciba-notifier-example is installed in the test environment; its entry point
    in the group ciba.notifiers makes "example-file" a plugin the notifier process can load."""
    outbox = tmp_path / "notifications.jsonl"
    await notification_config({"notifier": "example-file", "example-file": {"path": str(outbox)}})
    client = await rp.register(client_name="Kiosk")
    await rp.bc_authorize(client, login_hint=user.username, binding_message="Kiosk 12")
    for _ in range(100):
        if outbox.exists() and outbox.read_text():
            break
        await asyncio.sleep(0.1)
    [line] = [json.loads(raw) for raw in outbox.read_text().splitlines()]
    assert (line["username"], line["client_name"], line["binding_message"]) == (user.username, "Kiosk", "Kiosk 12")
    assert line["authorization_url"].startswith(f"{stack.issuer}/device/")
