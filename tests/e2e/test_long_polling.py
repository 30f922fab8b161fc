"""Long polling at /token: a poll held open answers as soon as the user decides."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.e2e.conftest import Account
from tests.support.browser import Browser
from tests.support.rp import CIBA_GRANT, RelyingParty
from tests.support.stack import Stack
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e


async def test_a_long_poll_started_before_approval_returns_tokens_within_100_ms_of_it(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user: Account) -> None:
    client = await rp.register()
    auth_req_id = (await rp.bc_authorize(client, login_hint=user.username)).body["auth_req_id"]
    note = await webhook.next_for(user.username)
    browser = Browser()
    consent = await browser.submit(await browser.get(note.payload["authorization_url"]),
                                   {"username": user.username, "password": user.password})

    async def long_poll() -> tuple[float, int, dict, str | None]:
        async with rp.http.post(f"{stack.issuer}/token",
                                data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id},
                                headers={**client.auth_header, "Prefer": "wait=20"},
                                timeout=aiohttp.ClientTimeout(total=30)) as response:
            body = await response.json()
            return time.monotonic(), response.status, body, response.headers.get("Preference-Applied")

    polling = asyncio.create_task(long_poll())
    await asyncio.sleep(0.5)
    assert not polling.done()  # held open while pending
    try:
        approved = await browser.submit(consent, {"decision": "approve"})
        approved_at = time.monotonic()
    finally:
        await browser.close()
    assert approved.status == 200
    answered_at, status, body, applied = await asyncio.wait_for(polling, 5)
    assert status == 200 and body["access_token"]
    assert applied == "wait=20"  # so a client learns that this server holds polls
    assert answered_at - approved_at < 0.1


async def test_a_long_poll_returns_authorization_pending_when_the_wait_runs_out(
        stack: Stack, rp: RelyingParty, user: Account) -> None:
    client = await rp.register()
    auth_req_id = (await rp.bc_authorize(client, login_hint=user.username)).body["auth_req_id"]
    started = time.monotonic()
    async with rp.http.post(f"{stack.issuer}/token", data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id},
                            headers={**client.auth_header, "Prefer": "wait=1"}) as response:
        answer = await response.json()
        applied = response.headers.get("Preference-Applied")
    assert answer["error"] == "authorization_pending" and applied == "wait=1"
    assert 0.9 < time.monotonic() - started < 5


async def test_a_poll_that_is_not_held_does_not_say_it_was(stack: Stack, rp: RelyingParty, user: Account) -> None:
    client = await rp.register()
    auth_req_id = (await rp.bc_authorize(client, login_hint=user.username)).body["auth_req_id"]
    async with rp.http.post(f"{stack.issuer}/token", data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id},
                            headers=client.auth_header) as plain:
        assert plain.status == 400 and "Preference-Applied" not in plain.headers
    # Too soon after that poll: slow_down at once, not held.
    async with rp.http.post(f"{stack.issuer}/token", data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id},
                            headers={**client.auth_header, "Prefer": "wait=5"}) as early:
        assert (await early.json())["error"] == "slow_down" and "Preference-Applied" not in early.headers
