"""ciba-admin request list and cancel, and token revoke: support staff find a stuck sign-in by
user, client, status and age, end it with a reason the client is told, and revoke what was
issued."""

from __future__ import annotations

import uuid

from joserfc import jwt

from services.token_delivery.payloads import push_error
from shared.events import AuthRequestFailed
from shared.logging import auth_req_fingerprint
from shared.repositories import auth_requests
from tests.support.admin_cli import admin_json, ciba_admin
from tests.support.gateway_client import add_user, decide, register


async def _start(http, client, username: str) -> str:
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": username},
                               headers=client.basic)
    assert response.status == 200
    return (await response.json())["auth_req_id"]


async def _token_error(http, client, auth_req_id: str) -> dict:
    response = await http.post("/token", data={"grant_type": "urn:openid:params:grant-type:ciba",
                                               "auth_req_id": auth_req_id}, headers=client.basic)
    assert response.status == 400
    return await response.json()


async def test_list_finds_a_users_pending_request_by_user_client_status_and_age(settings, http, gateway) -> None:
    client = await register(http, backchannel_token_delivery_mode="poll")
    other = await register(http, backchannel_token_delivery_mode="poll")
    user = await add_user(gateway)
    mine = await _start(http, client, user.username)
    await _start(http, other, user.username)

    listed = admin_json(settings, "request", "list", "--user", user.username, "--client", client.client_id,
                        "--status", "pending")
    assert [(entry["auth_req"], entry["username"], entry["status"]) for entry in listed] == [
        (auth_req_fingerprint(mine), user.username, "pending")]
    assert mine not in str(listed)  # the auth_req_id itself is never printed by list
    assert len(admin_json(settings, "request", "list", "--user", user.username)) == 2
    assert admin_json(settings, "request", "list", "--user", user.username, "--status", "denied") == []
    assert admin_json(settings, "request", "list", "--user", user.username, "--older-than", "86400") == []
    # The id list prints finds the request for show and cancel too.
    assert admin_json(settings, "request", "show", listed[0]["id"])["auth_req"] == auth_req_fingerprint(mine)


async def test_cancel_fails_the_request_and_the_client_is_told_the_reason(settings, http, gateway) -> None:
    client = await register(http, backchannel_token_delivery_mode="poll")
    user = await add_user(gateway)
    auth_req_id = await _start(http, client, user.username)

    cancelled = admin_json(settings, "request", "cancel", auth_req_id, "--reason", "fraud suspected")

    assert cancelled["status"] == "failed"
    assert await _token_error(http, client, auth_req_id) == {
        "error": "transaction_failed", "error_description": "cancelled by the operator: fraud suspected"}
    history = admin_json(settings, "request", "show", auth_req_id)["history"]
    assert [(h["status"], h["service"]) for h in history][-1] == ("failed", "admin")
    again = ciba_admin(settings, "request", "cancel", cancelled["id"], "--reason", "twice")
    assert (again.returncode, again.stderr.strip()) == (
        1, "ciba-admin: the request is no longer pending (it is failed)")


async def test_a_cancel_reason_must_fit_an_error_description(settings, http, gateway, pool) -> None:
    client = await register(http, backchannel_token_delivery_mode="poll")
    user = await add_user(gateway)
    auth_req_id = await _start(http, client, user.username)
    for reason in ['say "no"', "é", "x" * 201, ""]:
        refused = ciba_admin(settings, "request", "cancel", auth_req_id, "--reason", reason)
        assert refused.returncode == 1 and "the reason must be 1 to 200 printable ASCII" in refused.stderr, reason
    assert (await auth_requests.get_by_hash(pool, gateway.rt.secrets.hashes(auth_req_id))).status == "pending"
    unknown = ciba_admin(settings, "request", "cancel", str(uuid.uuid4()), "--reason", "gone")
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "ciba-admin: no request with that id or auth_req_id")


def test_a_push_client_hears_the_operators_reason_and_never_a_plugins() -> None:
    cancelled = AuthRequestFailed(request_id=uuid.uuid4(), delivery_mode="push",
                                  reason="cancelled by the operator: fraud suspected")
    assert push_error(cancelled, "abc")["error_description"] == "cancelled by the operator: fraud suspected"
    unreachable = AuthRequestFailed(request_id=uuid.uuid4(), delivery_mode="push",
                                    reason="end-user notification failed: fcm: 401 from https://fcm.googleapis.com")
    assert push_error(unreachable, "abc") == {"error": "transaction_failed", "auth_req_id": "abc",
                                              "error_description": "the user could not be reached to authenticate"}


async def _issued(http, gateway, client, username: str) -> tuple[str, dict]:
    auth_req_id = await _start(http, client, username)
    await decide(gateway, auth_req_id, approved=True)
    response = await http.post("/token", data={"grant_type": "urn:openid:params:grant-type:ciba",
                                               "auth_req_id": auth_req_id}, headers=client.basic)
    assert response.status == 200
    return auth_req_id, await response.json()


async def _userinfo(http, access_token: str) -> int:
    return (await http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})).status


async def test_token_revoke_by_grant_or_jti_is_refused_at_once(settings, http, gateway) -> None:
    client = await register(http, backchannel_token_delivery_mode="poll")
    user = await add_user(gateway)
    first_request, first = await _issued(http, gateway, client, user.username)
    _, second = await _issued(http, gateway, client, user.username)
    assert await _userinfo(http, first["access_token"]) == 200

    revoked = admin_json(settings, "token", "revoke", "--grant", first_request)
    assert revoked["revoked"] == 2  # its access and refresh tokens
    assert await _userinfo(http, first["access_token"]) == 401
    refresh = await http.post("/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                              headers=client.basic)
    assert (refresh.status, (await refresh.json())["error"]) == (400, "invalid_grant")

    jti = jwt.decode(second["access_token"], gateway.keyring.verify_set).claims["jti"]
    assert admin_json(settings, "token", "revoke", "--jti", jti) == {"jti": jti, "revoked": 1}
    assert await _userinfo(http, second["access_token"]) == 401
    again = ciba_admin(settings, "token", "revoke", "--jti", jti)
    assert (again.returncode, again.stderr.strip()) == (1, "ciba-admin: no unrevoked token with that jti")
