"""Ping and push delivery end to end, against an HTTPS notification endpoint whose CA the
services trust (issue: ping and push token delivery)."""

from __future__ import annotations

import asyncio

import pytest

from shared.domain.token_issuance import PUSH_AUTH_REQ_ID_CLAIM
from shared.jose.tokens import half_hash
from shared.logging import auth_req_fingerprint
from tests.e2e.conftest import Account
from tests.support.browser import decide_on_device
from tests.support.callback import CallbackServer
from tests.support.rp import RegisteredClient, RelyingParty
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e
BEARER = "rp-notification-token-Zq8"


async def decide(webhook: WebhookReceiver, user: Account, decision: str) -> None:
    note = await webhook.next_for(user.username)
    result = await decide_on_device(note.payload["authorization_url"], user.username, user.password, decision)
    assert result.status == 200, result.html


async def start(rp: RelyingParty, callbacks: CallbackServer, user: Account, mode: str,
                statuses: list[int | float] | None = None, **params: str) -> tuple[RegisteredClient, str, str]:
    url, key = callbacks.endpoint(statuses)
    client = await rp.register(backchannel_token_delivery_mode=mode,
                               backchannel_client_notification_endpoint=url)
    answer = await rp.bc_authorize(client, login_hint=user.username, client_notification_token=BEARER,
                                   scope="openid email", **params)
    assert answer.status == 200, answer
    return client, answer.body["auth_req_id"], key


async def test_ping_client_is_pinged_after_approval_then_gets_tokens_at_token_endpoint(
        stack, rp, webhook, callbacks, user) -> None:
    client, auth_req_id, key = await start(rp, callbacks, user, "ping")
    await decide(webhook, user, "approve")
    [call] = await callbacks.wait_calls(key, 1)
    assert call.headers["Authorization"] == f"Bearer {BEARER}"
    assert call.headers["Content-Type"] == "application/json"
    assert call.body == {"auth_req_id": auth_req_id}
    tokens = await rp.token(client, auth_req_id)
    assert tokens.status == 200 and tokens.body["id_token"]


async def test_ping_client_is_pinged_after_denial_and_token_says_access_denied(
        stack, rp, webhook, callbacks, user) -> None:
    client, auth_req_id, key = await start(rp, callbacks, user, "ping")
    await decide(webhook, user, "deny")
    [call] = await callbacks.wait_calls(key, 1)
    assert call.body == {"auth_req_id": auth_req_id}
    assert (await rp.token(client, auth_req_id)).body["error"] == "access_denied"


async def test_push_client_receives_the_tokens_with_hashes_that_bind_them(
        stack, rp, webhook, callbacks, user) -> None:
    client, auth_req_id, key = await start(rp, callbacks, user, "push")
    await decide(webhook, user, "approve")
    [call] = await callbacks.wait_calls(key, 1)
    assert call.headers["Authorization"] == f"Bearer {BEARER}"
    pushed = call.body
    assert pushed["auth_req_id"] == auth_req_id and pushed["token_type"] == "Bearer"
    claims = await rp.verify_id_token(pushed["id_token"], ["RS256"])
    assert claims[PUSH_AUTH_REQ_ID_CLAIM] == auth_req_id
    assert claims["at_hash"] == half_hash(pushed["access_token"], "RS256")
    assert claims["rt_hash"] == half_hash(pushed["refresh_token"], "RS256")
    assert claims["aud"] == client.client_id and claims["sub"] == user.sub
    assert (await rp.userinfo(pushed["access_token"])).status == 200
    # Push clients never use the CIBA grant at /token.
    assert (await rp.token(client, auth_req_id)).body["error"] == "unauthorized_client"
    shown = stack.admin("request", "show", auth_req_id)
    assert shown["delivery_state"] == "delivered"
    assert [h["status"] for h in shown["history"]][-1] == "tokens_issued"
    assert shown["history"][-1]["service"] == "token-delivery"


async def test_push_client_receives_access_denied_after_denial(stack, rp, webhook, callbacks, user) -> None:
    _client, auth_req_id, key = await start(rp, callbacks, user, "push")
    await decide(webhook, user, "deny")
    [call] = await callbacks.wait_calls(key, 1)
    assert call.body["error"] == "access_denied" and call.body["auth_req_id"] == auth_req_id
    assert call.headers["Authorization"] == f"Bearer {BEARER}"


async def test_push_client_receives_expired_token_when_the_request_expires(
        stack, rp, webhook, callbacks, user) -> None:
    _client, auth_req_id, key = await start(rp, callbacks, user, "push", requested_expiry="1")
    [call] = await callbacks.wait_calls(key, 1)
    assert call.body == {"error": "expired_token", "auth_req_id": auth_req_id,
                         "error_description": "the request expired before the user decided"}


async def test_a_callback_answering_500_twice_is_delivered_on_the_third_attempt_once(
        stack, rp, webhook, callbacks, user) -> None:
    _client, auth_req_id, key = await start(rp, callbacks, user, "push", statuses=[500, 503])
    await decide(webhook, user, "approve")
    calls = await callbacks.wait_calls(key, 3)
    await asyncio.sleep(0.5)  # room for a wrong fourth call to show up
    assert [c.status for c in callbacks.calls[key]] == [500, 503, 204]
    # The same tokens every time: minted once.
    assert len({c.body["access_token"] for c in calls}) == 1
    shown = stack.admin("request", "show", auth_req_id)
    assert [(d["attempt"], d["outcome"]) for d in shown["deliveries"]] == [
        (1, "retry"), (2, "retry"), (3, "delivered")]


async def test_a_callback_that_never_answers_is_dead_lettered_after_the_attempts(
        stack, rp, webhook, callbacks, user) -> None:
    stack.admin("config", "set", "backchannelDeliveryMaxAttempts", "2")
    stack.admin("config", "set", "backchannelDeliveryTimeoutSec", "0.5")
    try:
        _client, auth_req_id, key = await start(rp, callbacks, user, "ping", statuses=[5.0, 5.0, 5.0])
        await decide(webhook, user, "approve")
        for _ in range(200):
            shown = await stack.admin_async("request", "show", auth_req_id)
            if shown["delivery_state"] == "failed":
                break
            await asyncio.sleep(0.1)
    finally:
        stack.admin("config", "unset", "backchannelDeliveryMaxAttempts")
        stack.admin("config", "unset", "backchannelDeliveryTimeoutSec")
    assert shown["delivery_state"] == "failed"
    outcomes = [d["outcome"] for d in shown["deliveries"]]
    assert outcomes == ["retry", "retry", "dead_lettered"]
    assert "no answer" in shown["deliveries"][0]["detail"]
    assert len(callbacks.calls[key]) == 2


async def test_token_delivery_killed_mid_delivery_delivers_after_restart(
        stack, rp, webhook, callbacks, user) -> None:
    _client, auth_req_id, key = await start(rp, callbacks, user, "push", statuses=[20.0])
    await decide(webhook, user, "approve")
    [first] = await callbacks.wait_calls(key, 1)
    await asyncio.to_thread(stack.kill, "token-delivery")
    await asyncio.to_thread(stack.start, "token-delivery")
    calls = await callbacks.wait_calls(key, 2)
    assert calls[1].status == 204
    assert calls[1].body["access_token"] == first.body["access_token"]
    for _ in range(100):
        if (await stack.admin_async("request", "show", auth_req_id))["delivery_state"] == "delivered":
            break
        await asyncio.sleep(0.1)
    assert stack.admin("request", "show", auth_req_id)["delivery_state"] == "delivered"


async def test_two_token_delivery_replicas_make_each_callback_once(stack, rp, webhook, callbacks) -> None:
    from tests.e2e.conftest import make_user

    await asyncio.to_thread(stack.start, "token-delivery", name="token-delivery-2")
    try:
        started = []
        for _ in range(6):
            user = make_user(stack)
            _client, auth_req_id, key = await start(rp, callbacks, user, "ping")
            started.append((user, auth_req_id, key))
        await asyncio.gather(*(decide(webhook, user, "approve") for user, _, _ in started))
        for _user, auth_req_id, key in started:
            [call] = await callbacks.wait_calls(key, 1)
            assert call.body == {"auth_req_id": auth_req_id}
        await asyncio.sleep(0.5)
        assert all(len(callbacks.calls[key]) == 1 for _, _, key in started)
        ours = {auth_req_fingerprint(auth_req_id) for _, auth_req_id, _ in started}
        notified = [line["auth_req"] for name in ("token-delivery", "token-delivery-2")
                    for line in stack.log_lines(name)
                    if line.get("event") == "client_notified" and line.get("auth_req") in ours]
        assert sorted(notified) == sorted(ours)
    finally:
        assert await asyncio.to_thread(stack.stop, "token-delivery-2") == 0
