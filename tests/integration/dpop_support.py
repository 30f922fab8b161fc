"""Shared by the DPoP tests (test_dpop_*.py): the token and userinfo URLs a proof names (htu), and
the steps of a flow with proofs: an approved request, a /token call with or without a proof,
tokens bound to a key, a /userinfo call with a proof of that key for the token."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.integration.conftest import ISSUER
from tests.support.dpop import DpopKey
from tests.support.gateway_client import CIBA_GRANT, Client, add_user, decide

TOKEN_URL = f"{ISSUER}/token"
USERINFO_URL = f"{ISSUER}/userinfo"
def _now(gateway) -> float:
    return gateway.rt.clock.now().timestamp()


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def _approved(http, gateway, client: Client) -> str:
    user = await add_user(gateway)
    answer = await http.post("/bc-authorize", data={"scope": "openid email", "login_hint": user.username},
                             headers=client.basic)
    auth_req_id = (await answer.json())["auth_req_id"]
    await decide(gateway, auth_req_id, approved=True)
    return auth_req_id


async def _token(http, client: Client, proof: str | None, **form: str):
    data = {"grant_type": CIBA_GRANT, "auth_req_id": "no-such-request", **form}
    headers = {**client.basic, **({"DPoP": proof} if proof is not None else {})}
    response = await http.post("/token", data=data, headers=headers)
    return response, await response.json()


async def _bound_tokens(http, gateway, client: Client, key: DpopKey) -> dict[str, Any]:
    auth_req_id = await _approved(http, gateway, client)
    response, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway)),
                                  auth_req_id=auth_req_id)
    assert response.status == 200, body
    return body


async def _userinfo(http, gateway, key: DpopKey, token: str, *, scheme: str = "DPoP", method: str = "GET",
                    proof: str | None = None):
    proof = proof if proof is not None else key.proof(method, USERINFO_URL, iat=_now(gateway), access_token=token)
    response = await http.request(method, "/userinfo", headers={"Authorization": f"{scheme} {token}", "DPoP": proof})
    return response, await response.json()
