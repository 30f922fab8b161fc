"""The authentication device's pages: CSRF, cookies, single use, lockout, headers."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from shared.crypto import new_token
from shared.domain import lifecycle
from shared.passwords import hash_password
from shared.repositories import auth_requests, device_refs
from tests.support.browser import Page, parse_forms
from tests.support.gateway_client import add_user, register

PASSWORD = "a-long-enough-password"


@pytest.fixture
async def opened(http: TestClient, gateway):
    """A pending request for a fresh user, and the device-page URL the notifier would send."""
    client = await register(http, client_name="Bank <Teller>")
    user = await add_user(gateway, claims={})
    await gateway.rt.pool.execute("UPDATE users SET password_hash = $2 WHERE sub = $1", user.sub,
                                  hash_password(PASSWORD))
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": user.username,
                                                      "binding_message": "Code 7Q"}, headers=client.basic)
    auth_req_id = (await response.json())["auth_req_id"]
    request = await auth_requests.get_by_hash(gateway.rt.pool, gateway.rt.secrets.hashes(auth_req_id))
    ref = new_token(32)
    await device_refs.insert(gateway.rt.pool, gateway.rt.secrets.hash(ref), request.id, gateway.rt.clock.now())
    return user, f"/device/{ref}", request


async def get(http: TestClient, path: str) -> Page:
    response = await http.get(path)
    return Page(str(response.url), response.status, await response.text())


async def post_form(http: TestClient, page: Page, values: dict[str, str]) -> Page:
    form = parse_forms(page.html)[0]
    response = await http.post(form.action, data={**form.fields, **values})
    return Page(str(response.url), response.status, await response.text())


async def test_login_page_escapes_client_name_and_sets_protective_headers(http, opened) -> None:
    _user, path, _ = opened
    response = await http.get(path)
    html = await response.text()
    assert "Bank &lt;Teller&gt;" in html and "Code 7Q" in html
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/device/" in cookie
    form = parse_forms(html)[0]
    assert {"username", "password"} <= set(form.inputs)


async def test_login_without_the_csrf_token_is_refused(http, opened) -> None:
    user, path, _ = opened
    page = await get(http, path)
    refused = await post_form(http, page, {"username": user.username, "password": PASSWORD,
                                           "csrf_token": "forged"})
    assert refused.status == 403


async def test_decision_needs_the_session_and_its_csrf_token(http, opened) -> None:
    user, path, _ = opened
    consent = await post_form(http, await get(http, path), {"username": user.username, "password": PASSWORD})
    assert consent.status == 200
    form = parse_forms(consent.html)[0]
    assert ("decision", "approve") in form.buttons and ("decision", "deny") in form.buttons
    forged = await http.post(form.action, data={"decision": "approve", "csrf_token": "forged"})
    assert forged.status == 403
    http.session.cookie_jar.clear()
    no_session = await http.post(form.action, data={**form.fields, "decision": "approve"})
    assert no_session.status == 401


async def test_a_decided_request_page_answers_410(http, gateway, opened) -> None:
    user, path, request = opened
    consent = await post_form(http, await get(http, path), {"username": user.username, "password": PASSWORD})
    done = await post_form(http, consent, {"decision": "approve"})
    assert done.status == 200 and "Approved" in done.html
    assert (await http.get(path)).status == 410
    stored = await auth_requests.get(gateway.rt.pool, request.id)
    assert stored.status == "approved" and stored.acr == "pwd" and stored.auth_time is not None


async def test_five_wrong_passwords_lock_the_link(http, opened) -> None:
    user, path, _ = opened
    for _ in range(5):
        page = await get(http, path)
        wrong = await post_form(http, page, {"username": user.username, "password": "wrong-password"})
        assert wrong.status == 401
    assert (await http.get(path)).status == 410


async def test_an_expired_request_page_answers_410(http, opened, clock) -> None:
    _user, path, _ = opened
    clock.advance(601)
    response = await http.get(path)
    assert response.status == 410 and "expired" in await response.text()


async def test_a_request_the_sweep_expired_still_reads_as_expired(http, gateway, opened, clock) -> None:
    """The expiry sweep also uses up the request's links: the page says expired, not closed."""
    _user, path, request = opened
    clock.advance(601)
    async with gateway.rt.pool.acquire() as conn:
        swept = await lifecycle.expire_due(conn, now=clock.now(), limit=1000, service="test")
    assert request.id in {expired.id for expired in swept}
    response = await http.get(path)
    assert response.status == 410 and "This request has expired" in await response.text()


async def test_another_accounts_right_password_reads_like_a_wrong_one(http, gateway, opened) -> None:
    _user, path, request = opened
    other = await add_user(gateway, claims={})
    await gateway.rt.pool.execute("UPDATE users SET password_hash = $2 WHERE sub = $1", other.sub,
                                  hash_password(PASSWORD))
    right_elsewhere = await post_form(http, await get(http, path), {"username": other.username, "password": PASSWORD})
    wrong = await post_form(http, await get(http, path), {"username": other.username, "password": "wrong-one"})
    assert (right_elsewhere.status, wrong.status) == (401, 401)
    assert "not correct" in right_elsewhere.html and "not correct" in wrong.html
    assert (await auth_requests.get(gateway.rt.pool, request.id)).status == "pending"


async def test_concurrent_guesses_cannot_outrun_the_link_limit(http, opened) -> None:
    user, path, _ = opened
    page = await get(http, path)
    form = parse_forms(page.html)[0]
    answers = await asyncio.gather(*(http.post(form.action, data={**form.fields, "username": user.username,
                                                                 "password": f"guess-{i}"}) for i in range(20)))
    statuses = sorted(a.status for a in answers)
    assert statuses.count(401) == 5 and statuses.count(410) == 15


async def test_a_username_is_limited_across_links(http, gateway) -> None:
    client = await register(http)
    user = await add_user(gateway, claims={})
    paths = []
    for _ in range(3):
        response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": user.username},
                                   headers=client.basic)
        auth_req_id = (await response.json())["auth_req_id"]
        request = await auth_requests.get_by_hash(gateway.rt.pool, gateway.rt.secrets.hashes(auth_req_id))
        ref = new_token(32)
        await device_refs.insert(gateway.rt.pool, gateway.rt.secrets.hash(ref), request.id, gateway.rt.clock.now())
        paths.append(f"/device/{ref}")
    statuses = []
    for path in paths:
        for _ in range(4):
            statuses.append((await post_form(http, await get(http, path),
                                             {"username": user.username, "password": "wrong"})).status)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
