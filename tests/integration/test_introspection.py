"""POST /introspect (RFC 7662): a client learns about its own tokens, a listed resource server
about any; everything else is {"active": false} and nothing more."""

from __future__ import annotations

from tests.support.gateway_client import issued_tokens, register, server_property


async def _introspect(http, client, **form: str) -> dict:
    answer = await http.post("/introspect", data=form, headers=client.basic)
    assert answer.status == 200, await answer.text()
    assert answer.headers["Cache-Control"] == "no-store"
    return await answer.json()


async def test_a_client_introspects_its_access_and_refresh_tokens(http, gateway) -> None:
    client = await register(http)
    issued = await issued_tokens(http, gateway, client)

    access = await _introspect(http, client, token=issued["access_token"])
    assert access["active"] is True
    assert (access["client_id"], access["token_type"], access["scope"]) == (client.client_id, "Bearer",
                                                                            issued["scope"])
    assert {"sub", "exp", "iat", "auth_time", "acr", "jti", "iss"} <= set(access)

    refresh = await _introspect(http, client, token=issued["refresh_token"], token_type_hint="refresh_token")
    assert refresh["active"] is True and refresh["sub"] == access["sub"] and "token_type" not in refresh


async def test_revoked_unknown_and_other_clients_tokens_are_inactive_and_nothing_more(http, gateway) -> None:
    owner, other = await register(http), await register(http)
    issued = await issued_tokens(http, gateway, owner)
    for token in (issued["access_token"], issued["refresh_token"]):
        assert await _introspect(http, other, token=token) == {"active": False}
    assert await _introspect(http, owner, token="no-such-token") == {"active": False}
    await http.post("/revoke", data={"token": issued["refresh_token"]}, headers=owner.basic)  # ends the grant
    for token in (issued["access_token"], issued["refresh_token"]):
        assert await _introspect(http, owner, token=token) == {"active": False}


async def test_a_listed_resource_server_introspects_any_token(http, gateway) -> None:
    owner, api = await register(http), await register(http)
    issued = await issued_tokens(http, gateway, owner)
    async with server_property(gateway, "introspectionResourceServers", [api.client_id]):
        described = await _introspect(http, api, token=issued["access_token"])
    assert described["active"] is True and described["client_id"] == owner.client_id


async def test_the_caller_must_authenticate(http) -> None:
    answer = await http.post("/introspect", data={"token": "x"})
    assert (answer.status, (await answer.json())["error"]) == (401, "invalid_client")
