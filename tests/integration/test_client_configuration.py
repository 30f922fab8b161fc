"""RFC 7592: a client reads, replaces and deletes its registration with the registration
access token /register gave it; and with dynamicRegistrationInitialAccessToken set, only the
holder of that token registers (RFC 7591 3)."""

from __future__ import annotations

import pytest

from tests.support.gateway_client import Client, register_raw, server_property

ISSUER_PATH = "/register/"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _path(registered: dict) -> str:
    uri = registered["registration_client_uri"]
    return uri[uri.index(ISSUER_PATH):]


async def test_registration_answers_a_token_and_uri_that_read_the_registration(http) -> None:
    registered = await register_raw(http, client_name="Kiosk 7")
    assert registered["registration_client_uri"].endswith(f"/register/{registered['client_id']}")
    answer = await http.get(_path(registered), headers=_bearer(registered["registration_access_token"]))
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = await answer.json()
    assert body["client_name"] == "Kiosk 7" and body["client_id"] == registered["client_id"]
    assert body["registration_access_token"] == registered["registration_access_token"]
    assert "client_secret" not in body  # shown once, at registration


async def test_only_the_clients_own_token_opens_its_registration(http) -> None:
    mine, theirs = await register_raw(http), await register_raw(http)
    token = mine["registration_access_token"]
    for path, headers in [(_path(mine), _bearer(token + "x")), (_path(theirs), _bearer(token)),
                          ("/register/no-such-client", _bearer(token)), (_path(mine), {})]:
        answer = await http.get(path, headers=headers)
        assert answer.status == 401, path
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    # The client secret is not a registration access token.
    answer = await http.get(_path(mine), headers=_bearer(mine["client_secret"]))
    assert answer.status == 401


async def test_put_replaces_the_metadata_and_keeps_what_the_server_assigned(http) -> None:
    registered = await register_raw(http, client_name="Before", contacts=["ops@example.com"])
    path, headers = _path(registered), _bearer(registered["registration_access_token"])
    replacement = {"client_id": registered["client_id"], "client_secret": registered["client_secret"],
                   "client_name": "After", "grant_types": ["urn:openid:params:grant-type:ciba"],
                   "backchannel_token_delivery_mode": "poll", "client_id_issued_at": 1}

    answer = await http.put(path, json=replacement, headers=headers)

    assert answer.status == 200, await answer.text()
    body = await answer.json()
    assert body["client_name"] == "After"
    assert body["contacts"] == []  # a full replacement: what the body leaves out takes its default
    assert body["client_id_issued_at"] == registered["client_id_issued_at"]
    assert (await (await http.get(path, headers=headers)).json())["client_name"] == "After"


@pytest.mark.parametrize(("change", "error"), [
    ({"client_id": None}, "invalid_request"),
    ({"client_id": "someone-else"}, "invalid_request"),
    ({"client_secret": "not-the-secret"}, "invalid_request"),
    ({"backchannel_token_delivery_mode": "ping"}, "invalid_client_metadata"),  # ping needs an endpoint
])
async def test_a_bad_replacement_is_refused_and_changes_nothing(http, change, error) -> None:
    registered = await register_raw(http, client_name="Unchanged")
    path, headers = _path(registered), _bearer(registered["registration_access_token"])
    body = {"client_id": registered["client_id"], "client_name": "Changed", "backchannel_token_delivery_mode": "poll",
            **change}
    body = {k: v for k, v in body.items() if v is not None}
    answer = await http.put(path, json=body, headers=headers)
    assert (answer.status, (await answer.json())["error"]) == (400, error)
    assert (await (await http.get(path, headers=headers)).json())["client_name"] == "Unchanged"


async def test_delete_ends_the_registration(http, gateway) -> None:
    registered = await register_raw(http)
    path, headers = _path(registered), _bearer(registered["registration_access_token"])
    answer = await http.delete(path, headers=headers)
    assert answer.status == 204
    assert (await http.get(path, headers=headers)).status == 401
    gateway.clients.clear()  # (the services drop it on the NOTIFY the delete sends)
    client = Client(registered["client_id"], registered["client_secret"])
    login = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": "x"}, headers=client.basic)
    assert (login.status, (await login.json())["error"]) == (401, "invalid_client")


async def test_with_an_initial_access_token_only_its_bearer_registers(http, gateway) -> None:
    initial = "initial-access-token-1234567890"
    body = {"backchannel_token_delivery_mode": "poll", "grant_types": ["urn:openid:params:grant-type:ciba"]}
    async with server_property(gateway, "dynamicRegistrationInitialAccessToken", initial):
        for headers in ({}, _bearer("wrong-token-1234567890")):
            answer = await http.post("/register", json=body, headers=headers)
            assert (answer.status, answer.headers["WWW-Authenticate"][:6]) == (401, "Bearer")
        answer = await http.post("/register", json=body, headers=_bearer(initial))
        assert answer.status == 201
    assert (await http.post("/register", json=body)).status == 201  # open again once unset
