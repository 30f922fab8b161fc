"""A request's life in the four services' logs: every service's lines about it carry its
fingerprint (the `auth_req` that `ciba-admin request show` prints), none carries the
auth_req_id itself, and the gateway's lines carry the HTTP request's request_id and the
client's address."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Account
from tests.support.browser import decide_on_device
from tests.support.rp import RelyingParty
from tests.support.stack import SERVICES, Stack
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e


async def test_one_request_is_followed_by_its_fingerprint_and_never_by_its_auth_req_id(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, user: Account) -> None:
    client = await rp.register()
    started = await rp.bc_authorize(client, login_hint=user.username)
    auth_req_id = started.body["auth_req_id"]
    note = await webhook.next_for(user.username)
    await decide_on_device(note.payload["authorization_url"], user.username, user.password)
    tokens = await rp.token(client, auth_req_id)
    assert tokens.status == 200

    fingerprint = (await stack.admin_async("request", "show", auth_req_id))["auth_req"]
    for service in SERVICES:
        assert auth_req_id not in stack.logs(service), f"{service} logged an auth_req_id"
        about_it = [line for line in stack.log_lines(service) if line.get("auth_req") == fingerprint]
        assert about_it, f"{service} has no line with the request's fingerprint"

    # The gateway: the line of the /bc-authorize that started it has the HTTP request's id,
    # and its access line that id, the route and the client's address.
    requested = [line for line in stack.log_lines("gateway") if line.get("auth_req") == fingerprint
                 and line.get("event") == "auth_request_created"]
    assert requested, "no auth_request_created line"
    request_id = requested[0]["request_id"]
    [access] = [line for line in stack.log_lines("gateway")
                if line.get("event") == "http_request" and line.get("request_id") == request_id]
    assert access["route"] == "/bc-authorize" and access["client"] == "127.0.0.1"
    assert {k.lower(): v for k, v in started.headers.items()}["x-request-id"] == request_id
