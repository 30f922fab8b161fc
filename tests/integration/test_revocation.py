"""POST /revoke (RFC 7009): a client revokes the tokens it was issued; revoking a refresh
token ends its grant; anything else is answered 200 and left alone."""

from __future__ import annotations

from tests.support.gateway_client import Client, issued_tokens, register


async def _revoke(http, client: Client, **form: str):
    return await http.post("/revoke", data=form, headers=client.basic)


async def _userinfo(http, access_token: str) -> int:
    return (await http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})).status


async def _refresh(http, client: Client, refresh_token: str) -> int:
    return (await http.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                            headers=client.basic)).status


async def test_revoking_a_refresh_token_ends_its_grant(http, gateway) -> None:
    client = await register(http)
    issued = await issued_tokens(http, gateway, client)
    answer = await _revoke(http, client, token=issued["refresh_token"], token_type_hint="refresh_token")
    assert (answer.status, await answer.text(), answer.headers["Cache-Control"]) == (200, "", "no-store")
    assert await _refresh(http, client, issued["refresh_token"]) == 400
    assert await _userinfo(http, issued["access_token"]) == 401  # the grant's access token too


async def test_revoking_an_access_token_ends_that_token_only(http, gateway) -> None:
    client = await register(http)
    issued = await issued_tokens(http, gateway, client)
    assert (await _revoke(http, client, token=issued["access_token"])).status == 200
    assert await _userinfo(http, issued["access_token"]) == 401
    assert await _refresh(http, client, issued["refresh_token"]) == 200  # the grant lives on


async def test_another_clients_or_an_unknown_token_is_answered_200_and_left_alone(http, gateway) -> None:
    owner, other = await register(http), await register(http)
    issued = await issued_tokens(http, gateway, owner)
    for token in (issued["access_token"], issued["refresh_token"], "no-such-token", "a.b.c"):
        assert (await _revoke(http, other, token=token)).status == 200
    assert await _userinfo(http, issued["access_token"]) == 200
    assert await _refresh(http, owner, issued["refresh_token"]) == 200


async def test_the_client_must_authenticate_and_name_a_token(http) -> None:
    client = await register(http)
    answer = await http.post("/revoke", data={"token": "x"})
    assert (answer.status, (await answer.json())["error"]) == (401, "invalid_client")
    answer = await _revoke(http, client)
    assert (answer.status, (await answer.json())["error"]) == (400, "invalid_request")


async def test_discovery_names_the_endpoint(http) -> None:
    doc = await (await http.get("/.well-known/openid-configuration")).json()
    assert doc["revocation_endpoint"].endswith("/revoke")
    assert "client_secret_basic" in doc["revocation_endpoint_auth_methods_supported"]
