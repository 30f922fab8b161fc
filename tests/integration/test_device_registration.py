"""/bc-deviceRegistration: a mobile app registers the user's push token."""

from __future__ import annotations

import time

from services.admin import commands
from shared.repositories import devices
from tests.support.gateway_client import CIBA_GRANT, add_user, decide, register, server_property
from tests.support.jwt_client import ClientSigner


async def id_token_for(http, gateway, user) -> str:
    client = await register(http)
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": user.username},
                               headers=client.basic)
    auth_req_id = (await response.json())["auth_req_id"]
    await decide(gateway, auth_req_id, approved=True)
    tokens = await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id},
                             headers=client.basic)
    return (await tokens.json())["id_token"]


async def register_device(http, **data: str):
    response = await http.post("/bc-deviceRegistration", data=data)
    return response.status, await response.json()


async def test_a_device_is_registered_for_the_user_the_id_token_names(http, gateway) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user)
    status, body = await register_device(http, id_token_hint=id_token, device_registration_token="fcm-token-1")
    assert status == 200 and body["device_registration_id"]
    stored = await devices.for_user(gateway.rt.pool, user.sub)
    assert [str(d.id) for d in stored] == [body["device_registration_id"]]
    assert gateway.rt.secrets.decrypt(stored[0].token_enc) == "fcm-token-1"
    raw = await gateway.rt.pool.fetchval("SELECT row_to_json(d)::text FROM devices d WHERE sub = $1", user.sub)
    assert "fcm-token-1" not in raw


async def test_several_devices_per_user_and_re_registering_is_idempotent(http, gateway) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user)
    first = await register_device(http, id_token_hint=id_token, device_registration_token="phone")
    again = await register_device(http, id_token_hint=id_token, device_registration_token="phone")
    tablet = await register_device(http, id_token_hint=id_token, device_registration_token="tablet")
    assert first[1] == again[1] and tablet[1] != first[1]
    assert len(await devices.for_user(gateway.rt.pool, user.sub)) == 2


async def test_blank_token_missing_hint_and_bad_hints_are_refused(http, gateway, clock) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user)
    assert (await register_device(http, id_token_hint=id_token, device_registration_token="  "))[1]["error"] == \
        "invalid_request"
    assert (await register_device(http, device_registration_token="t"))[1]["error"] == "invalid_request"
    forged = ClientSigner("RS256").sign({"iss": gateway.issuer, "sub": user.sub, "exp": int(time.time()) + 60})
    assert (await register_device(http, id_token_hint=forged, device_registration_token="t"))[1]["error"] == \
        "invalid_request"
    clock.advance(7200)  # the id_token has expired
    assert (await register_device(http, id_token_hint=id_token, device_registration_token="t"))[1]["error"] == \
        "invalid_request"


async def test_a_hint_for_a_removed_user_is_unknown_user_id(http, gateway) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user)
    await gateway.rt.pool.execute("DELETE FROM users WHERE sub = $1", user.sub)
    status, body = await register_device(http, id_token_hint=id_token, device_registration_token="t")
    assert (status, body["error"]) == (400, "unknown_user_id")


async def test_with_the_ciba_flag_off_device_registration_is_refused(http, gateway) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user)
    async with server_property(gateway, "featureFlags", []):
        status, body = await register_device(http, id_token_hint=id_token, device_registration_token="t")
    assert (status, body["error"]) == (403, "access_denied")


async def test_devices_are_listed_and_removed_with_ciba_admin(http, gateway, settings) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user)
    _, body = await register_device(http, id_token_hint=id_token, device_registration_token="secret-push-token-42")
    args = type("Args", (), {"username": user.username, "device_id": body["device_registration_id"]})()
    listed = await commands.device_list(settings, args)
    assert [d["device_registration_id"] for d in listed] == [body["device_registration_id"]]
    assert "secret-push-token-42" not in str(listed)
    assert (await commands.device_remove(settings, args))["removed"] is True
    assert await commands.device_list(settings, args) == []


async def test_an_access_token_is_not_an_id_token_hint(http, gateway) -> None:
    user = await add_user(gateway)
    client = await register(http)
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": user.username},
                               headers=client.basic)
    auth_req_id = (await response.json())["auth_req_id"]
    await decide(gateway, auth_req_id, approved=True)
    tokens = await (await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id},
                                    headers=client.basic)).json()
    status, body = await register_device(http, id_token_hint=tokens["access_token"], device_registration_token="t")
    assert (status, body["error"]) == (400, "invalid_request")
    assert await devices.for_user(gateway.rt.pool, user.sub) == []


async def test_the_oldest_devices_beyond_the_cap_are_dropped(http, gateway, clock) -> None:
    user = await add_user(gateway)
    id_token = await id_token_for(http, gateway, user)
    async with server_property(gateway, "backchannelMaxDevicesPerUser", 2):
        ids = []
        for name in ("one", "two", "three"):
            ids.append((await register_device(http, id_token_hint=id_token, device_registration_token=name))[1])
            clock.advance(1)
    kept = {str(d.id) for d in await devices.for_user(gateway.rt.pool, user.sub)}
    assert kept == {ids[1]["device_registration_id"], ids[2]["device_registration_id"]}
