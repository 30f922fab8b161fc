"""/device/account/user-code: users set their CIBA user_code after signing in, with the same
protections as the request pages (CSRF, cookies, headers) and a lockout per username."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from services.gateway.context import Gateway
from shared import totp
from shared.passwords import hash_password, verify_password
from shared.repositories import users
from shared.repositories.users import User
from tests.support.browser import Page, parse_forms
from tests.support.gateway_client import add_user

PATH = "/device/account/user-code"
PASSWORD = "a-long-enough-password"


@pytest.fixture
async def user(gateway: Gateway) -> User:
    created = await add_user(gateway)
    await gateway.rt.pool.execute("UPDATE users SET password_hash = $2 WHERE sub = $1", created.sub,
                                  hash_password(PASSWORD))
    return created


async def get(http: TestClient) -> Page:
    response = await http.get(PATH)
    return Page(str(response.url), response.status, await response.text())


async def submit(http: TestClient, page: Page, values: dict[str, str]) -> Page:
    form = parse_forms(page.html)[0]
    response = await http.post(form.action, data={**form.fields, **values})
    return Page(str(response.url), response.status, await response.text())


async def log_in(http: TestClient, user: User, **values: str) -> Page:
    return await submit(http, await get(http), {"username": user.username, "password": PASSWORD, **values})


async def stored_code_hash(gateway: Gateway, user: User) -> str | None:
    return (await users.get(gateway.rt.pool, user.sub)).user_code_hash


async def test_the_page_opens_with_a_login_form_and_protective_headers(http) -> None:
    response = await http.get(PATH)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/device/" in cookie
    form = parse_forms(await response.text())[0]
    assert form.action == PATH and {"username", "password", "totp", "csrf_token"} <= set(form.inputs)


async def test_a_signed_in_user_sets_a_user_code_entered_twice(http, gateway, user) -> None:
    code_form = await log_in(http, user)
    assert code_form.status == 200, code_form.html
    assert {"user_code", "user_code_confirm"} <= set(parse_forms(code_form.html)[0].inputs)
    done = await submit(http, code_form, {"user_code": "river 42", "user_code_confirm": "river 42"})
    assert done.status == 200 and "User code changed" in done.html
    assert verify_password(await stored_code_hash(gateway, user), "river 42")
    # The account session ended with the change.
    assert "password" in parse_forms((await get(http)).html)[0].inputs


async def test_the_account_session_is_its_own_cookie_scoped_to_the_account_pages(http, user) -> None:
    page = await get(http)
    form = parse_forms(page.html)[0]
    response = await http.post(form.action, data={**form.fields, "username": user.username, "password": PASSWORD},
                               allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == PATH
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("ciba_account=") and "Path=/device/account/" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


async def test_login_without_the_csrf_token_is_refused(http, user) -> None:
    refused = await submit(http, await get(http), {"username": user.username, "password": PASSWORD,
                                                   "csrf_token": "forged"})
    assert refused.status == 403


@pytest.mark.parametrize("csrf_token", [None, "forged"])
async def test_setting_the_code_without_the_sessions_csrf_token_is_refused(http, gateway, user, csrf_token) -> None:
    code_form = await log_in(http, user)
    fields = {**parse_forms(code_form.html)[0].fields, "user_code": "1234", "user_code_confirm": "1234"}
    if csrf_token is None:
        del fields["csrf_token"]
    else:
        fields["csrf_token"] = csrf_token
    response = await http.post(PATH, data=fields)
    assert response.status == 403
    assert await stored_code_hash(gateway, user) is None


async def test_setting_the_code_without_a_session_asks_to_sign_in(http, gateway, user) -> None:
    code_form = await log_in(http, user)
    http.session.cookie_jar.clear()
    refused = await submit(http, code_form, {"user_code": "1234", "user_code_confirm": "1234"})
    assert refused.status == 401 and "password" in parse_forms(refused.html)[0].inputs
    assert await stored_code_hash(gateway, user) is None


@pytest.mark.parametrize(("code", "confirm"), [("1234", "1235"), ("", ""), ("x" * 65, "x" * 65)])
async def test_codes_that_differ_or_are_out_of_bounds_are_refused(http, gateway, user, code, confirm) -> None:
    code_form = await log_in(http, user)
    refused = await submit(http, code_form, {"user_code": code, "user_code_confirm": confirm})
    assert refused.status == 400 and parse_forms(refused.html)[0].fields["step"] == "set"
    assert await stored_code_hash(gateway, user) is None


async def test_a_user_with_an_authenticator_must_give_its_code(http, gateway, user, clock) -> None:
    secret = totp.new_secret()
    async with gateway.rt.pool.acquire() as conn:
        await users.enrol_totp(conn, user.username, gateway.rt.secrets.encrypt(secret))
    assert (await log_in(http, user)).status == 401
    code = totp.code_at(secret, totp.step_at(clock.now()))
    assert (await log_in(http, user, totp=code)).status == 200
    http.session.cookie_jar.clear()
    assert (await log_in(http, user, totp=code)).status == 401  # good once


async def test_five_failed_logins_lock_the_username_for_15_minutes(http, user, clock) -> None:
    for _ in range(5):
        assert (await log_in(http, user, password="wrong-password")).status == 401
    locked = await log_in(http, user)
    assert locked.status == 429 and "Too many" in locked.html
    clock.advance(15 * 60 + 1)
    assert (await log_in(http, user)).status == 200


async def test_unknown_usernames_lock_alike(http, clock) -> None:
    nobody = User(sub="-", username="no-such-user", email=None, phone_number=None, password_hash="")
    for _ in range(5):
        assert (await log_in(http, nobody)).status == 401
    assert (await log_in(http, nobody)).status == 429
