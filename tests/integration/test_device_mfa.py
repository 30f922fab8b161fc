"""acr ``mfa`` on the device pages: password plus a TOTP code, the level recorded on the
request and carried into the id_token; wrong and replayed codes refused and counted."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient
from joserfc import jwt

from services.gateway.context import Gateway
from shared import totp
from shared.clock import FrozenClock
from shared.crypto import new_token
from shared.domain.auth_request import AuthRequest
from shared.passwords import hash_password
from shared.repositories import auth_requests, device_refs, users
from shared.repositories.users import User
from tests.support.browser import Page, parse_forms
from tests.support.gateway_client import CIBA_GRANT, Client, add_user, register

PASSWORD = "a-long-enough-password"


@dataclass
class Opened:
    client: Client
    user: User
    path: str
    auth_req_id: str
    request: AuthRequest


async def open_request(http: TestClient, gateway: Gateway, *, acr_values: str | None,
                       user: User | None = None) -> Opened:
    client = await register(http, client_name="Bank")
    if user is None:
        user = await add_user_with_password(gateway)
    data = {"scope": "openid", "login_hint": user.username}
    if acr_values is not None:
        data["acr_values"] = acr_values
    response = await http.post("/bc-authorize", data=data, headers=client.basic)
    assert response.status == 200, await response.text()
    auth_req_id = (await response.json())["auth_req_id"]
    request = await auth_requests.get_by_hash(gateway.rt.pool, gateway.rt.secrets.hashes(auth_req_id))
    ref = new_token(32)
    await device_refs.insert(gateway.rt.pool, gateway.rt.secrets.hash(ref), request.id, gateway.rt.clock.now())
    return Opened(client, user, f"/device/{ref}", auth_req_id, request)


async def add_user_with_password(gateway: Gateway) -> User:
    user = await add_user(gateway)
    await gateway.rt.pool.execute("UPDATE users SET password_hash = $2 WHERE sub = $1", user.sub,
                                  hash_password(PASSWORD))
    return user


async def enrol(gateway: Gateway, user: User) -> str:
    secret = totp.new_secret()
    async with gateway.rt.pool.acquire() as conn:
        assert await users.enrol_totp(conn, user.username, gateway.rt.secrets.encrypt(secret))
    return secret


def current_code(secret: str, clock: FrozenClock) -> str:
    return totp.code_at(secret, totp.step_at(clock.now()))


async def get(http: TestClient, path: str) -> Page:
    response = await http.get(path)
    return Page(str(response.url), response.status, await response.text())


async def log_in(http: TestClient, opened: Opened, **values: str) -> Page:
    form = parse_forms((await get(http, opened.path)).html)[0]
    response = await http.post(form.action, data={**form.fields, "username": opened.user.username,
                                                  "password": PASSWORD, **values})
    return Page(str(response.url), response.status, await response.text())


@pytest.fixture
async def mfa(http, gateway) -> tuple[Opened, str]:
    opened = await open_request(http, gateway, acr_values="mfa")
    return opened, await enrol(gateway, opened.user)


async def test_the_login_form_asks_for_a_totp_code_only_when_the_request_asks_for_mfa(http, gateway) -> None:
    for acr_values, expected in [("mfa", True), ("mfa pwd", True), ("pwd", False), ("pwd mfa", False),
                                 (None, False)]:
        opened = await open_request(http, gateway, acr_values=acr_values, user=await add_user(gateway))
        form = parse_forms((await get(http, opened.path)).html)[0]
        assert ("totp" in form.inputs) is expected, acr_values
        assert {"username", "password"} <= set(form.inputs)


async def test_password_and_totp_approve_and_the_id_token_carries_acr_mfa(http, gateway, mfa, clock) -> None:
    opened, secret = mfa
    consent = await log_in(http, opened, totp=current_code(secret, clock))
    assert consent.status == 200, consent.html
    form = parse_forms(consent.html)[0]
    done = await http.post(form.action, data={**form.fields, "decision": "approve"})
    assert done.status == 200 and "Approved" in await done.text()

    stored = await auth_requests.get(gateway.rt.pool, opened.request.id)
    assert (stored.status, stored.acr) == ("approved", "mfa")

    response = await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": opened.auth_req_id},
                               headers=opened.client.basic)
    assert response.status == 200, await response.text()
    id_token = jwt.decode((await response.json())["id_token"], gateway.keyring.verify_set,
                          algorithms=["RS256", "PS256", "ES256"])
    assert id_token.claims["acr"] == "mfa" and id_token.claims["sub"] == opened.user.sub


async def test_a_pwd_request_is_decided_at_acr_pwd_even_for_a_user_with_totp(http, gateway, clock) -> None:
    opened = await open_request(http, gateway, acr_values="pwd mfa")
    await enrol(gateway, opened.user)
    consent = await log_in(http, opened)
    form = parse_forms(consent.html)[0]
    await http.post(form.action, data={**form.fields, "decision": "approve"})
    assert (await auth_requests.get(gateway.rt.pool, opened.request.id)).acr == "pwd"


async def test_a_wrong_totp_code_is_refused_like_a_wrong_password(http, mfa, clock) -> None:
    opened, secret = mfa
    right = current_code(secret, clock)
    wrong_code = await log_in(http, opened, totp=f"{(int(right) + 500_000) % 10**6:06d}")
    wrong_password = await log_in(http, opened, totp=right, password="not-the-password")
    assert wrong_code.status == wrong_password.status == 401
    assert "The username, password or code is not correct." in wrong_code.html
    assert "The username, password or code is not correct." in wrong_password.html
    missing = await log_in(http, opened)
    assert missing.status == 401


async def test_wrong_totp_codes_count_towards_the_lockout(http, mfa, clock) -> None:
    opened, secret = mfa
    wrong = f"{(int(current_code(secret, clock)) + 500_000) % 10**6:06d}"
    for _ in range(5):
        assert (await log_in(http, opened, totp=wrong)).status == 401
    assert (await http.get(opened.path)).status == 410


async def test_a_used_code_is_refused_when_replayed(http, mfa, clock) -> None:
    opened, secret = mfa
    code = current_code(secret, clock)
    assert (await log_in(http, opened, totp=code)).status == 200
    http.session.cookie_jar.clear()
    assert (await log_in(http, opened, totp=code)).status == 401
    clock.advance(30)
    assert (await log_in(http, opened, totp=current_code(secret, clock))).status == 200


async def test_a_used_code_cannot_open_another_request_either(http, gateway, mfa, clock) -> None:
    opened, secret = mfa
    code = current_code(secret, clock)
    assert (await log_in(http, opened, totp=code)).status == 200
    fresh = await users.get(gateway.rt.pool, opened.user.sub)
    second = await open_request(http, gateway, acr_values="mfa", user=fresh)
    assert (await log_in(http, second, totp=code)).status == 401


async def test_a_user_without_an_authenticator_gets_a_403_page_for_an_mfa_request(http, gateway) -> None:
    opened = await open_request(http, gateway, acr_values="mfa")
    page = await log_in(http, opened, totp="123456")
    assert page.status == 403
    assert "authenticator" in page.html and not parse_forms(page.html)
    assert (await auth_requests.get(gateway.rt.pool, opened.request.id)).status == "pending"
    # A wrong password still gets only the generic answer.
    assert (await log_in(http, opened, password="not-the-password", totp="123456")).status == 401


async def test_two_concurrent_logins_with_one_code_let_only_one_in(http, mfa, clock) -> None:
    opened, secret = mfa
    code = current_code(secret, clock)
    form = parse_forms((await get(http, opened.path)).html)[0]
    data = {**form.fields, "username": opened.user.username, "password": PASSWORD, "totp": code}
    first, second = await asyncio.gather(http.post(form.action, data=data), http.post(form.action, data=data))
    assert sorted([first.status, second.status]) == [200, 401]


async def test_recording_a_step_is_conditional(gateway, mfa) -> None:
    opened, _secret = mfa
    results = await asyncio.gather(*(users.use_totp_step(gateway.rt.pool, opened.user.sub, 1000) for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    assert not await users.use_totp_step(gateway.rt.pool, opened.user.sub, 999)
    assert await users.use_totp_step(gateway.rt.pool, opened.user.sub, 1001)
