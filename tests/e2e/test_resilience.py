"""What must survive: a broker restart mid-request, and a service stopped mid-message."""

from __future__ import annotations

import asyncio

import pytest

from shared.logging import auth_req_fingerprint
from tests.e2e.conftest import Account
from tests.support.browser import decide_on_device
from tests.support.rp import RelyingParty
from tests.support.stack import Stack
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e


async def _approve(url: str, user: Account) -> None:
    result = await decide_on_device(url, user.username, user.password)
    assert result.status == 200, result.html


async def test_broker_restart_between_request_and_approval_loses_nothing(
        e2e_backing, stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user: Account,
        other_user: Account) -> None:
    client = await rp.register()
    first = (await rp.bc_authorize(client, login_hint=user.username)).body["auth_req_id"]
    first_note = await webhook.next_for(user.username)

    await asyncio.to_thread(e2e_backing.rabbitmqctl, ["stop_app"])
    try:
        # The gateway keeps working without the broker: approvals and new requests are
        # written to Postgres with their events in the outbox.
        await _approve(first_note.payload["authorization_url"], user)
        second = await rp.bc_authorize(client, login_hint=other_user.username)
        assert second.status == 200
        tokens = await rp.token(client, first)
        assert tokens.status == 200
    finally:
        await asyncio.to_thread(e2e_backing.rabbitmqctl, ["start_app"])

    # The event written during the outage reaches the notifier once the broker is back.
    second_note = await webhook.next_for(other_user.username, timeout=60)
    await _approve(second_note.payload["authorization_url"], other_user)
    assert (await rp.token(client, second.body["auth_req_id"])).status == 200

    # And token-delivery saw both decisions.
    # (Log lines carry the auth_req_id's fingerprint, never the auth_req_id.)
    wanted = {auth_req_fingerprint(first), auth_req_fingerprint(second.body["auth_req_id"])}
    for _ in range(300):
        seen = {line.get("auth_req") for line in stack.log_lines("token-delivery")
                if line.get("event") == "delivery_not_needed"}
        if wanted <= seen:
            break
        await asyncio.sleep(0.1)
    assert wanted <= seen


async def test_sigterm_lets_the_notifier_finish_the_message_in_hand_and_exit_zero(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user: Account) -> None:
    webhook.delays[user.username] = 1.5
    client = await rp.register()
    auth_req_id = (await rp.bc_authorize(client, login_hint=user.username)).body["auth_req_id"]
    await asyncio.wait_for(webhook.started[user.username].wait(), 15)

    exit_code = await asyncio.to_thread(stack.stop, "notifier")
    try:
        assert exit_code == 0
        note = await webhook.next_for(user.username, timeout=1)
        assert note.payload["user"]["username"] == user.username
        shown = stack.admin("request", "show", auth_req_id)
        assert [n["outcome"] for n in shown["notifications"]] == ["sent"]
        events = [line["event"] for line in stack.log_lines("notifier")]
        assert "consumer_draining" in events and events[-1] == "service_stopped"
    finally:
        await asyncio.to_thread(stack.start, "notifier")
