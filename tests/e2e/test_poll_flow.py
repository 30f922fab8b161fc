"""Poll mode end to end, through the four services as processes (issue: walking skeleton)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time

import pytest

from shared.logging import auth_req_fingerprint
from tests.e2e.conftest import WEBHOOK_SECRET, Account
from tests.support.browser import Browser, decide_on_device
from tests.support.rp import RelyingParty
from tests.support.stack import SERVICES, Stack
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e


async def _start(rp: RelyingParty, user: Account, **params: str):
    client = await rp.register()
    answer = await rp.bc_authorize(client, login_hint=user.email, **params)
    assert answer.status == 200, answer
    return client, answer.body["auth_req_id"]


async def test_rp_gets_signed_tokens_after_user_approves_on_device_pages(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user: Account) -> None:
    client = await rp.register(client_name="Checkout")
    started = await rp.bc_authorize(client, login_hint=user.email, scope="openid email profile",
                                    binding_message="Pay 42 EUR #A7")
    assert started.status == 200, started
    assert started.headers["Cache-Control"] == "no-store"
    auth_req_id = started.body["auth_req_id"]
    assert re.fullmatch(r"[A-Za-z0-9._-]{27,}", auth_req_id)  # >= 160 bits
    assert started.body["expires_in"] == 600 and started.body["interval"] == 5

    note = await webhook.next_for(user.username)
    expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), note.body, hashlib.sha256).hexdigest()
    assert note.headers["X-CIBA-Signature"] == expected
    assert note.payload["binding_message"] == "Pay 42 EUR #A7"
    assert note.payload["client_name"] == "Checkout"
    assert note.payload["scope"] == ["openid", "email", "profile"]
    assert note.payload["user"] == {"sub": user.sub, "username": user.username}
    assert auth_req_id not in note.body.decode()

    pending = await rp.token(client, auth_req_id)
    assert (pending.status, pending.body["error"]) == (400, "authorization_pending")

    result = await decide_on_device(note.payload["authorization_url"], user.username, user.password)
    assert result.status == 200 and "Approved" in result.html

    tokens = await rp.token(client, auth_req_id)
    assert tokens.status == 200, tokens
    assert tokens.headers["Cache-Control"] == "no-store"
    assert tokens.body["token_type"] == "Bearer" and tokens.body["refresh_token"]
    claims = await rp.verify_id_token(tokens.body["id_token"], ["RS256"])
    assert claims["iss"] == stack.issuer
    assert claims["aud"] == client.client_id
    assert claims["sub"] == user.sub
    assert claims["acr"] == "pwd"
    assert claims["iat"] <= time.time() + 5 < claims["exp"]
    assert claims["auth_time"] <= claims["iat"]

    info = await rp.userinfo(tokens.body["access_token"])
    assert info.status == 200
    assert info.body["sub"] == user.sub and info.body["email"] == user.email
    assert info.body["name"] == "Test User"

    # One grep over the four services' logs, for the auth_req_id's fingerprint, shows the
    # request's whole life.
    fingerprint = auth_req_fingerprint(auth_req_id)

    async def logged_everywhere() -> bool:
        return all(fingerprint in stack.logs(service) for service in SERVICES)
    for _ in range(100):
        if await logged_everywhere():
            break
        await asyncio.sleep(0.05)
    missing = [service for service in SERVICES if fingerprint not in stack.logs(service)]
    assert not missing, f"the request's fingerprint is not logged by {missing}"

    shown = stack.admin("request", "show", auth_req_id)
    assert [h["status"] for h in shown["history"]] == ["pending", "approved", "tokens_issued"]
    assert [h["service"] for h in shown["history"]] == ["gateway", "gateway", "gateway"]
    assert shown["notifications"][0]["outcome"] == "sent"


async def test_second_exchange_of_the_same_auth_req_id_is_refused(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user: Account) -> None:
    client, auth_req_id = await _start(rp, user)
    note = await webhook.next_for(user.username)
    await decide_on_device(note.payload["authorization_url"], user.username, user.password)
    first = await rp.token(client, auth_req_id)
    assert first.status == 200
    second = await rp.token(client, auth_req_id)
    assert (second.status, second.body["error"]) == (400, "invalid_grant")


async def test_denial_on_the_device_answers_access_denied(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user: Account) -> None:
    client, auth_req_id = await _start(rp, user)
    note = await webhook.next_for(user.username)
    result = await decide_on_device(note.payload["authorization_url"], user.username, user.password, "deny")
    assert result.status == 200 and "Denied" in result.html
    answer = await rp.token(client, auth_req_id)
    assert (answer.status, answer.body["error"]) == (400, "access_denied")
    browser = Browser()
    try:
        again = await browser.get(note.payload["authorization_url"])
    finally:
        await browser.close()
    assert again.status == 410


async def test_request_expires_and_token_answers_expired_token(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user: Account) -> None:
    client, auth_req_id = await _start(rp, user, requested_expiry="1")
    note = await webhook.next_for(user.username)
    for _ in range(100):
        shown = await stack.admin_async("request", "show", auth_req_id)
        if shown["status"] == "expired":
            break
        await asyncio.sleep(0.1)
    assert shown["history"][-1]["status"] == "expired"
    assert shown["history"][-1]["service"] == "request-processor"
    answer = await rp.token(client, auth_req_id)
    assert (answer.status, answer.body["error"]) == (400, "expired_token")
    browser = Browser()
    try:
        page = await browser.get(note.payload["authorization_url"])
    finally:
        await browser.close()
    assert page.status == 410


async def test_polling_faster_than_the_interval_answers_slow_down(
        stack: Stack, rp: RelyingParty, user: Account) -> None:
    client, auth_req_id = await _start(rp, user)
    first = await rp.token(client, auth_req_id)
    assert first.body["error"] == "authorization_pending"
    second = await rp.token(client, auth_req_id)
    assert (second.status, second.body["error"]) == (400, "slow_down")
    shown = stack.admin("request", "show", auth_req_id)
    assert shown["interval"] == 10  # grown by 5 s, CIBA Core 11


async def test_only_the_named_user_can_decide_the_request(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user: Account,
        other_user: Account) -> None:
    client, auth_req_id = await _start(rp, user)
    note = await webhook.next_for(user.username)
    intruder = Browser()
    try:
        login = await intruder.get(note.payload["authorization_url"])
        refused = await intruder.submit(login, {"username": other_user.username,
                                                "password": other_user.password})
    finally:
        await intruder.close()
    # Another account's right password reads exactly like a wrong one: the page cannot be
    # used to test other accounts' passwords.
    assert refused.status == 401 and "not correct" in refused.html
    assert (await rp.token(client, auth_req_id)).body["error"] == "authorization_pending"

    result = await decide_on_device(note.payload["authorization_url"], user.username, user.password)
    assert result.status == 200


async def test_unknown_device_reference_is_404_and_wrong_password_is_refused(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user: Account) -> None:
    browser = Browser()
    try:
        unknown = await browser.get(f"{stack.issuer}/device/not-a-real-reference")
        assert unknown.status == 404
        await _start(rp, user)
        note = await webhook.next_for(user.username)
        login = await browser.get(note.payload["authorization_url"])
        wrong = await browser.submit(login, {"username": user.username, "password": "nope-nope"})
        assert wrong.status == 401 and "not correct" in wrong.html
    finally:
        await browser.close()


async def test_refresh_token_rotates_and_a_replay_revokes_the_grant(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user: Account) -> None:
    client, auth_req_id = await _start(rp, user)
    note = await webhook.next_for(user.username)
    await decide_on_device(note.payload["authorization_url"], user.username, user.password)
    tokens = (await rp.token(client, auth_req_id)).body
    rotated = await rp.refresh(client, tokens["refresh_token"])
    assert rotated.status == 200 and rotated.body["refresh_token"] != tokens["refresh_token"]
    replay = await rp.refresh(client, tokens["refresh_token"])
    assert (replay.status, replay.body["error"]) == (400, "invalid_grant")
    # The replay revoked the whole grant, rotated tokens included.
    assert (await rp.refresh(client, rotated.body["refresh_token"])).status == 400
    assert (await rp.userinfo(rotated.body["access_token"])).status == 401


async def test_ui_locales_reaches_the_notification_and_the_pages(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user: Account) -> None:
    client, auth_req_id = await _start(rp, user, ui_locales="fr-CA en")
    note = await webhook.next_for(user.username)
    assert note.payload["ui_locales"] == ["fr-CA", "en"]
    result = await decide_on_device(note.payload["authorization_url"], user.username, user.password)
    assert result.status == 200 and "Vous avez approuvé la demande" in result.html
    assert (await rp.token(client, auth_req_id)).status == 200
