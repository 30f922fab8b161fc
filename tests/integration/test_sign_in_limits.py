"""Password checks cannot be used to exhaust the gateway: they run on a bounded pool of their
own, a full waiting line answers 429 with Retry-After, failed sign-ins are limited per source
address (X-Forwarded-For believed only from trusted proxies), argon2's cost is a setting, and
the counters that made-up usernames leave behind are purged."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from services.admin import commands
from services.gateway.context import Gateway
from services.gateway.password_checks import PasswordChecks
from services.request_processor import housekeeping
from shared.domain.attempts_limit import sign_ins_per_address
from shared.passwords import Argon2Params, Passwords
from shared.repositories import throttle, users
from tests.support.browser import Page, parse_forms
from tests.support.gateway_client import add_user, register, server_property

ACCOUNT = "/device/account/user-code"
CHEAP = Argon2Params(time_cost=1, memory_kib=8192, parallelism=1)


async def account_login(http: TestClient, username: str, password: str = "wrong-password",
                        headers: dict[str, str] | None = None) -> Page:
    opened = await http.get(ACCOUNT)
    form = parse_forms(await opened.text())[0]
    response = await http.post(form.action, data={**form.fields, "username": username, "password": password},
                               headers=headers or {}, allow_redirects=False)
    return Page(str(response.url), response.status, await response.text())


def made_up() -> str:
    return f"nobody-{uuid.uuid4().hex[:12]}"


async def until_full(gateway: Gateway) -> None:
    for _ in range(500):
        if gateway.password_checks.full:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the password check never started")


@pytest.fixture
def one_slow_thread(gateway: Gateway) -> Iterator[threading.Event]:
    """One password-check thread, no waiting line, and a check that holds its thread until
    the test sets the event."""
    release = threading.Event()
    checks = PasswordChecks(Passwords(CHEAP), threads=1, max_waiting=0)
    real_verify = checks.passwords.verify

    def held_verify(stored_hash: str | None, secret: str) -> bool:
        release.wait(10)
        return real_verify(stored_hash, secret)

    checks.passwords.verify = held_verify  # type: ignore[method-assign]
    original, gateway.password_checks = gateway.password_checks, checks
    yield release
    release.set()
    gateway.password_checks = original
    checks.close()


async def test_a_sign_in_past_the_waiting_line_gets_a_429_page_with_retry_after(
        http, gateway, one_slow_thread) -> None:
    first = asyncio.ensure_future(account_login(http, made_up()))
    await until_full(gateway)
    refused = await http.get(ACCOUNT)
    form = parse_forms(await refused.text())[0]
    response = await http.post(form.action, data={**form.fields, "username": made_up(), "password": "x"})
    assert response.status == 429
    assert response.content_type == "text/html"
    assert int(response.headers["Retry-After"]) >= 1
    assert "Try again" in await response.text()
    one_slow_thread.set()
    assert (await first).status == 401


async def test_a_user_code_check_past_the_waiting_line_is_429_slow_down(http, gateway, one_slow_thread) -> None:
    async with server_property(gateway, "backchannelUserCodeParameterSupported", True):
        client = await register(http, backchannel_user_code_parameter=True)
        user = await add_user(gateway)
        blocking = asyncio.ensure_future(account_login(http, made_up()))
        await until_full(gateway)
        response = await http.post("/bc-authorize", headers=client.basic,
                                   data={"scope": "openid", "login_hint": user.username, "user_code": "1234"})
        body = await response.json()
        one_slow_thread.set()
        await blocking
    assert (response.status, body["error"]) == (429, "slow_down")
    assert int(response.headers["Retry-After"]) >= 1


@pytest.fixture
async def three_failures_per_address(gateway: Gateway) -> AsyncIterator[None]:
    async with server_property(gateway, "deviceLoginMaxFailuresPerAddress", 3):
        yield


async def test_failed_sign_ins_from_one_address_are_limited_whatever_the_username(
        http, gateway, three_failures_per_address) -> None:
    for _ in range(3):
        assert (await account_login(http, made_up())).status == 401
    locked = await account_login(http, made_up())
    assert locked.status == 429 and "your network" in locked.html
    # The limit is on the address: a real user's right password from there waits too.
    user = await add_user(gateway)
    assert (await account_login(http, user.username, "irrelevant-password")).status == 429


async def test_successful_sign_ins_do_not_use_up_the_address_limit(http, gateway, three_failures_per_address) -> None:
    user = await add_user(gateway)
    for _ in range(5):
        assert (await account_login(http, user.username, "irrelevant-password")).status == 303
        http.session.cookie_jar.clear()


async def test_a_burst_of_good_sign_ins_from_one_address_leaves_no_lock_behind(
        http, gateway, three_failures_per_address) -> None:
    """Many people behind one NAT signing in at once: while more sign-ins are being checked
    than the limit allows, the extra ones wait (429); once the checks succeed, the address is
    free again. Refused attempts check no password, so they must not count as failures."""
    limit = sign_ins_per_address(3)
    address = f"192.0.2.{uuid.uuid4().int % 250 + 1}"
    now = gateway.rt.clock.now()
    in_flight = [await limit.allow(gateway.rt.pool, address, now) for _ in range(3)]
    refused = [await limit.allow(gateway.rt.pool, address, now) for _ in range(10)]
    assert in_flight == [True] * 3 and refused == [False] * 10
    for _ in in_flight:  # the three checks succeed
        await limit.release(gateway.rt.pool, address)
    assert await limit.allow(gateway.rt.pool, address, now)


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
        http, gateway, three_failures_per_address, monkeypatch) -> None:
    for n in range(3):  # the peer (127.0.0.1) is not trusted: every forged address counts as it
        assert (await account_login(http, made_up(), headers={"X-Forwarded-For": f"203.0.113.{n}"})).status == 401
    assert (await account_login(http, made_up(), headers={"X-Forwarded-For": "203.0.113.99"})).status == 429


async def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_limit(
        http, gateway, three_failures_per_address, monkeypatch) -> None:
    monkeypatch.setattr(gateway.rt, "settings", gateway.rt.settings.model_copy(update={
        "trusted_proxies": ["127.0.0.1", "10.0.0.0/8"]}))
    client_a = {"X-Forwarded-For": "198.51.100.7, 10.1.2.3"}  # client, then an inner proxy
    client_b = {"X-Forwarded-For": "198.51.100.8"}
    for _ in range(3):
        assert (await account_login(http, made_up(), headers=client_a)).status == 401
    assert (await account_login(http, made_up(), headers=client_a)).status == 429
    assert (await account_login(http, made_up(), headers=client_b)).status == 401


async def test_argon2_parameters_are_settings_used_for_new_hashes(settings, pool, tmp_path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("long-enough\n")
    cheap = settings.model_copy(update={"argon2_time_cost": 1, "argon2_memory_kib": 8192,
                                        "argon2_parallelism": 1})
    args = type("Args", (), {"username": made_up(), "password": "@" + str(password_file), "password_stdin": False,
                             "email": None, "phone": None, "claim": []})()
    created = await commands.user_add(cheap, args)
    stored = await users.get(pool, created["sub"])
    assert stored.password_hash.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    # A hash carries its parameters: whatever the settings say later, it still verifies.
    assert Passwords(Argon2Params()).verify(stored.password_hash, "long-enough")
    assert "$m=65536,t=3,p=4$" in Passwords().hash("x")  # today's values stay the defaults


async def test_housekeeping_purges_attempt_counters_whose_window_has_passed(runtime, clock) -> None:
    now = clock.now()
    old, recent = f"account:{made_up()}", f"account:{made_up()}"
    await throttle.count_attempt(runtime.pool, old, now - timedelta(minutes=20), timedelta(minutes=15), 5)
    await throttle.count_attempt(runtime.pool, recent, now - timedelta(minutes=5), timedelta(minutes=15), 5)
    await housekeeping.clean_once(runtime.pool, clock.now())
    kept = {row["key"] for row in await runtime.pool.fetch(
        "SELECT key FROM login_throttle WHERE key = ANY($1)", [old, recent])}
    assert kept == {recent}
