"""ciba-admin user list, show, passwd, disable, enable and remove, as the gateway then sees
the user: a disabled user is unknown_user_id and their pending requests end denied."""

from __future__ import annotations

import uuid

from shared.logging import auth_req_fingerprint
from shared.passwords import verify_password
from shared.repositories import users
from tests.support.admin_cli import admin_json, ciba_admin
from tests.support.gateway_client import add_user, register


async def _start(http, client, username: str):
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": username},
                               headers=client.basic)
    return response.status, await response.json()


async def _token(http, client, auth_req_id: str) -> dict:
    response = await http.post("/token", data={"grant_type": "urn:openid:params:grant-type:ciba",
                                               "auth_req_id": auth_req_id}, headers=client.basic)
    return await response.json()


async def test_a_disabled_user_is_unknown_and_their_pending_request_is_denied(settings, http, gateway) -> None:
    client = await register(http, backchannel_token_delivery_mode="poll")
    user = await add_user(gateway)
    status, started = await _start(http, client, user.username)
    assert status == 200

    disabled = admin_json(settings, "user", "disable", user.username)

    assert disabled == {"username": user.username, "disabled": True,
                        "denied_requests": [auth_req_fingerprint(started["auth_req_id"])]}
    assert (await _token(http, client, started["auth_req_id"]))["error"] == "access_denied"
    status, refused = await _start(http, client, user.username)
    assert (status, refused["error"]) == (400, "unknown_user_id")
    shown = admin_json(settings, "user", "show", user.username)
    assert shown["disabled_at"] is not None and "password_hash" not in shown

    assert admin_json(settings, "user", "enable", user.username) == {"username": user.username, "disabled": False}
    status, _ = await _start(http, client, user.username)
    assert status == 200


async def test_list_filters_by_text_and_state_and_never_shows_a_secret(settings) -> None:
    tag = uuid.uuid4().hex[:8]
    first = admin_json(settings, "user", "add", f"list-{tag}-a", "--password-stdin", stdin="long enough 1")
    admin_json(settings, "user", "add", f"list-{tag}-b", "--password-stdin", stdin="long enough 2")
    admin_json(settings, "user", "disable", f"list-{tag}-b")

    listed = admin_json(settings, "user", "list", "--search", tag)
    assert [entry["username"] for entry in listed] == [f"list-{tag}-a", f"list-{tag}-b"]
    assert listed[0] == {"sub": first["sub"], "username": f"list-{tag}-a", "email": None, "phone_number": None,
                         "claims": {}, "created_at": listed[0]["created_at"], "disabled_at": None,
                         "user_code": False, "totp": False}
    assert [e["username"] for e in admin_json(settings, "user", "list", "--search", tag, "--disabled")] == [
        f"list-{tag}-b"]
    assert [e["username"] for e in admin_json(settings, "user", "list", "--search", tag, "--active")] == [
        f"list-{tag}-a"]
    assert "hash" not in str(admin_json(settings, "user", "list", "--limit", "5"))


async def test_passwd_sets_a_new_password(settings, gateway, pool) -> None:
    user = await add_user(gateway)
    assert admin_json(settings, "user", "passwd", user.username, "--password-stdin", stdin="a brand new one") == {
        "username": user.username, "password": "set"}
    assert verify_password((await users.get_by_username(pool, user.username)).password_hash, "a brand new one")
    short = ciba_admin(settings, "user", "passwd", user.username, "--password-stdin", stdin="short")
    assert (short.returncode, short.stderr.strip()) == (1, "ciba-admin: password must be at least 8 characters")


async def test_remove_waits_until_no_request_is_pending(settings, http, gateway, pool) -> None:
    client = await register(http, backchannel_token_delivery_mode="poll")
    user = await add_user(gateway)
    assert (await _start(http, client, user.username))[0] == 200

    refused = ciba_admin(settings, "user", "remove", user.username)
    assert (refused.returncode, refused.stderr.strip()) == (
        1, "ciba-admin: the user has pending requests: `ciba-admin user disable` denies them first")

    admin_json(settings, "user", "disable", user.username)
    assert admin_json(settings, "user", "remove", user.username) == {"username": user.username, "removed": True}
    assert await users.entry(pool, user.username) is None
    gone = ciba_admin(settings, "user", "show", user.username)
    assert (gone.returncode, gone.stderr.strip()) == (1, f"ciba-admin: no user named {user.username!r}")
