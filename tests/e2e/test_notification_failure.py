"""A user who cannot be reached: the request fails, and the client is told."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.test_ping_push import BEARER
from tests.support.callback import CallbackServer
from tests.support.rp import RelyingParty
from tests.support.stack import Stack
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e


async def _until_failed(stack: Stack, auth_req_id: str) -> dict:
    for _ in range(150):
        shown = await stack.admin_async("request", "show", auth_req_id)
        if shown["status"] == "failed":
            return shown
        await asyncio.sleep(0.1)
    raise AssertionError(f"request did not fail: {shown}")


async def test_a_poll_client_gets_transaction_failed_when_the_user_cannot_be_notified(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user) -> None:
    webhook.answers[user.username] = [400]  # the operator's notification service refuses for good
    client = await rp.register()
    auth_req_id = (await rp.bc_authorize(client, login_hint=user.username)).body["auth_req_id"]
    shown = await _until_failed(stack, auth_req_id)
    assert [n["outcome"] for n in shown["notifications"]] == ["failed", "gave_up"]
    assert shown["history"][-1]["status"] == "failed" and shown["history"][-1]["service"] == "notifier"
    answer = await rp.token(client, auth_req_id)
    assert (answer.status, answer.body["error"]) == (400, "transaction_failed")


async def test_retries_then_failure_after_the_configured_attempts(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user) -> None:
    webhook.answers[user.username] = [503, 503, 503]  # cibaNotificationMaxAttempts is 3 here
    client = await rp.register()
    auth_req_id = (await rp.bc_authorize(client, login_hint=user.username)).body["auth_req_id"]
    shown = await _until_failed(stack, auth_req_id)
    assert [n["outcome"] for n in shown["notifications"]] == ["failed", "failed", "failed", "gave_up"]


async def test_a_push_client_receives_transaction_failed(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, callbacks: CallbackServer, user) -> None:
    webhook.answers[user.username] = [400]
    url, key = callbacks.endpoint()
    client = await rp.register(backchannel_token_delivery_mode="push", backchannel_client_notification_endpoint=url)
    auth_req_id = (await rp.bc_authorize(client, login_hint=user.username,
                                         client_notification_token=BEARER)).body["auth_req_id"]
    [call] = await callbacks.wait_calls(key, 1)
    assert call.body["error"] == "transaction_failed" and call.body["auth_req_id"] == auth_req_id
    assert call.headers["Authorization"] == f"Bearer {BEARER}"
