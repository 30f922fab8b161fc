"""/bc-deviceRegistration: a mobile app registers the user's push token."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from services.admin import commands
from shared.repositories import devices
from tests.support.gateway_client import Client, add_user, issued_tokens, register, server_property
from tests.support.jwt_client import ClientSigner

PATH = "/bc-deviceRegistration"


@pytest.fixture
async def app_client(http, gateway) -> AsyncIterator[Client]:
    """The authentication app's client, which the operator allows to register devices."""
    client = await register(http, client_name="Authenticator app")
    async with server_property(gateway, "backchannelDeviceRegistrationClients", [client.client_id]):
        yield client


async def id_token_for(http, gateway, user, client: Client) -> str:
    return (await issued_tokens(http, gateway, client, user))["id_token"]


async def register_device(http, client: Client | None, *, hint: str | None = None, token: str | None = None):
    data = {"id_token_hint": hint, "device_registration_token": token}
    response = await http.post(PATH, data={k: v for k, v in data.items() if v is not None},
                               headers=client.basic if client else {})
    return response.status, await response.json()


async def test_without_client_authentication_device_registration_is_invalid_client(
        http, gateway, app_client) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user, app_client)
    response = await http.post(PATH, data={"id_token_hint": id_token, "device_registration_token": "t"})
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"
    assert "WWW-Authenticate" in response.headers
    wrong = Client(app_client.client_id, "not-the-secret")
    assert (await register_device(http, wrong, hint=id_token, token="t"))[0] == 401
    assert await devices.for_user(gateway.rt.pool, user.sub) == []


async def test_an_id_token_issued_to_another_client_is_invalid_request(http, gateway, app_client) -> None:
    """The hijack: any relying party the user once approved held an id_token for them."""
    user = await add_user(gateway)
    other_rp = await register(http, client_name="Some relying party")
    foreign = await id_token_for(http, gateway, user, other_rp)
    status, body = await register_device(http, app_client, hint=foreign, token="t")
    assert (status, body["error"]) == (400, "invalid_request")
    assert "another client" in body["error_description"]
    assert await devices.for_user(gateway.rt.pool, user.sub) == []


async def test_only_clients_the_operator_allows_may_register_devices(http, gateway) -> None:
    user = await add_user(gateway)
    client = await register(http)
    id_token = await id_token_for(http, gateway, user, client)
    # The default, [], allows no client at all.
    status, body = await register_device(http, client, hint=id_token, token="t")
    assert (status, body["error"]) == (403, "unauthorized_client")
    other = await register(http)
    async with server_property(gateway, "backchannelDeviceRegistrationClients", [other.client_id]):
        status, body = await register_device(http, client, hint=id_token, token="t")
    assert (status, body["error"]) == (403, "unauthorized_client")
    assert await devices.for_user(gateway.rt.pool, user.sub) == []


async def test_a_device_is_registered_for_the_user_the_id_token_names(http, gateway, app_client) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user, app_client)
    status, body = await register_device(http, app_client, hint=id_token, token="fcm-token-1")
    assert status == 200 and body["device_registration_id"]
    stored = await devices.for_user(gateway.rt.pool, user.sub)
    assert [str(d.id) for d in stored] == [body["device_registration_id"]]
    assert gateway.rt.secrets.decrypt(stored[0].token_enc) == "fcm-token-1"
    raw = await gateway.rt.pool.fetchval("SELECT row_to_json(d)::text FROM devices d WHERE sub = $1", user.sub)
    assert "fcm-token-1" not in raw


async def test_several_devices_per_user_and_re_registering_is_idempotent(http, gateway, app_client) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user, app_client)
    first = await register_device(http, app_client, hint=id_token, token="phone")
    again = await register_device(http, app_client, hint=id_token, token="phone")
    tablet = await register_device(http, app_client, hint=id_token, token="tablet")
    assert first[1] == again[1] and tablet[1] != first[1]
    assert len(await devices.for_user(gateway.rt.pool, user.sub)) == 2


async def test_blank_token_missing_hint_and_bad_hints_are_refused(http, gateway, app_client, clock) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user, app_client)
    assert (await register_device(http, app_client, hint=id_token, token="  "))[1]["error"] == \
        "invalid_request"
    assert (await register_device(http, app_client, token="t"))[1]["error"] == "invalid_request"
    forged = ClientSigner("RS256").sign({"iss": gateway.issuer, "sub": user.sub, "exp": int(time.time()) + 60})
    assert (await register_device(http, app_client, hint=forged, token="t"))[1]["error"] == \
        "invalid_request"
    clock.advance(7200)  # the id_token has expired
    assert (await register_device(http, app_client, hint=id_token, token="t"))[1]["error"] == \
        "invalid_request"


async def test_a_hint_for_a_removed_user_is_unknown_user_id(http, gateway, app_client) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user, app_client)
    await gateway.rt.pool.execute("DELETE FROM users WHERE sub = $1", user.sub)
    status, body = await register_device(http, app_client, hint=id_token, token="t")
    assert (status, body["error"]) == (400, "unknown_user_id")


async def test_with_the_ciba_flag_off_device_registration_is_refused(http, gateway, app_client) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user, app_client)
    async with server_property(gateway, "featureFlags", []):
        status, body = await register_device(http, app_client, hint=id_token, token="t")
    assert (status, body["error"]) == (403, "access_denied")


async def test_devices_are_listed_and_removed_with_ciba_admin(http, gateway, app_client, settings) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user, app_client)
    _, body = await register_device(http, app_client, hint=id_token, token="secret-push-token-42")
    args = type("Args", (), {"username": user.username, "device_id": body["device_registration_id"]})()
    listed = await commands.device_list(settings, args)
    assert [d["device_registration_id"] for d in listed] == [body["device_registration_id"]]
    assert "secret-push-token-42" not in str(listed)
    assert (await commands.device_remove(settings, args))["removed"] is True
    assert await commands.device_list(settings, args) == []


async def test_an_access_token_is_not_an_id_token_hint(http, gateway, app_client) -> None:
    user = await add_user(gateway)
    tokens = await issued_tokens(http, gateway, app_client, user)
    status, body = await register_device(http, app_client, hint=tokens["access_token"], token="t")
    assert (status, body["error"]) == (400, "invalid_request")
    assert await devices.for_user(gateway.rt.pool, user.sub) == []


async def test_the_oldest_devices_beyond_the_cap_are_dropped(http, gateway, app_client, clock) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user, app_client)
    async with server_property(gateway, "backchannelMaxDevicesPerUser", 2):
        ids = []
        for name in ("one", "two", "three"):
            ids.append((await register_device(http, app_client, hint=id_token, token=name))[1])
            clock.advance(1)
    kept = {str(d.id) for d in await devices.for_user(gateway.rt.pool, user.sub)}
    assert kept == {ids[1]["device_registration_id"], ids[2]["device_registration_id"]}
