"""Rich authorization requests (RFC 9396) carried into the access token and the token response (7),
introspection (9.1, 9.2) and the grant a refresh token renews; none in the tokens of a request
without them."""

from __future__ import annotations

import json

from shared.jose import tokens as jose_tokens
from tests.integration.authorization_details_support import PAYMENT, bc_authorize, payment_client
from tests.support.gateway_client import CIBA_GRANT, add_user, decide

# Into the tokens (RFC 9396 7, 9.1, 9.2) and through a refresh.

async def test_the_tokens_introspection_and_refresh_carry_the_details(http, gateway) -> None:
    client, user = await payment_client(http), await add_user(gateway)
    status, body = await bc_authorize(http, client, user.username, authorization_details=json.dumps([PAYMENT]))
    assert status == 200, body
    await decide(gateway, body["auth_req_id"], approved=True)
    answer = await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": body["auth_req_id"]},
                             headers=client.basic)
    issued = await answer.json()
    assert answer.status == 200, issued
    assert issued["authorization_details"] == [PAYMENT]
    claims = jose_tokens.verify_access_token(gateway.keyring, issued["access_token"], issuer=gateway.issuer,
                                             now=gateway.rt.clock.now())
    assert claims["authorization_details"] == [PAYMENT]

    for token, hint in ((issued["access_token"], "access_token"), (issued["refresh_token"], "refresh_token")):
        described = await (await http.post("/introspect", data={"token": token, "token_type_hint": hint},
                                           headers=client.basic)).json()
        assert described["active"] is True and described["authorization_details"] == [PAYMENT], hint

    answer = await http.post("/token", data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
                             headers=client.basic)
    refreshed = await answer.json()
    assert answer.status == 200, refreshed
    assert refreshed["authorization_details"] == [PAYMENT]
    claims = jose_tokens.verify_access_token(gateway.keyring, refreshed["access_token"], issuer=gateway.issuer,
                                             now=gateway.rt.clock.now())
    assert claims["authorization_details"] == [PAYMENT]
    userinfo = await http.get("/userinfo", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert userinfo.status == 200


async def test_tokens_of_a_request_without_details_carry_none(http, gateway) -> None:
    client, user = await payment_client(http), await add_user(gateway)
    _, body = await bc_authorize(http, client, user.username)
    await decide(gateway, body["auth_req_id"], approved=True)
    issued = await (await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": body["auth_req_id"]},
                                    headers=client.basic)).json()
    claims = jose_tokens.verify_access_token(gateway.keyring, issued["access_token"], issuer=gateway.issuer,
                                             now=gateway.rt.clock.now())
    assert "authorization_details" not in issued and "authorization_details" not in claims
