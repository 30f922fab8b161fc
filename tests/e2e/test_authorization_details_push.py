"""Rich authorization requests (RFC 9396) end to end in push mode: the user sees the payment
on the consent page, and the tokens pushed to the client carry its authorization_details."""

from __future__ import annotations

import json

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.conftest import Account
from tests.support.browser import Browser
from tests.support.callback import CallbackServer
from tests.support.rp import RelyingParty
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e
PAYMENT = {"type": "payment_initiation", "actions": ["initiate"],
           "instructedAmount": {"currency": "EUR", "amount": "42.00"},
           "creditorName": "Kiosk Café", "creditorAccount": {"iban": "FR7630006000011234567890189"}}


async def test_a_push_client_receives_the_authorization_details_with_its_tokens(
        stack, rp: RelyingParty, webhook: WebhookReceiver, callbacks: CallbackServer, user: Account) -> None:
    url, key = callbacks.endpoint()
    client = await rp.register(backchannel_token_delivery_mode="push", backchannel_client_notification_endpoint=url,
                               authorization_details_types=["payment_initiation"])
    answer = await rp.bc_authorize(client, login_hint=user.username, client_notification_token="rp-token-42",
                                   authorization_details=json.dumps([PAYMENT]))
    assert answer.status == 200, answer
    auth_req_id = answer.body["auth_req_id"]

    note = await webhook.next_for(user.username)
    browser = Browser()
    try:
        login = await browser.get(note.payload["authorization_url"])
        consent = await browser.submit(login, {"username": user.username, "password": user.password})
        assert '<dd class="amount">€42.00</dd>' in consent.html and "<dd>Kiosk Café</dd>" in consent.html
        done = await browser.submit(consent, {"decision": "approve"})
        assert done.status == 200, done.html
    finally:
        await browser.close()

    [call] = await callbacks.wait_calls(key, 1)
    pushed = call.body
    assert pushed["auth_req_id"] == auth_req_id and pushed["authorization_details"] == [PAYMENT]
    async with rp.http.get(f"{stack.issuer}/jwks") as response:
        keys = KeySet.import_key_set(await response.json())
    claims = jwt.decode(pushed["access_token"], keys, algorithms=["RS256"]).claims
    assert claims["authorization_details"] == [PAYMENT]
    assert stack.admin("request", "show", auth_req_id)["authorization_details"] == [PAYMENT]
