"""Shared by the relying-party library's end-to-end tests (test_client_library_*.py): a client
registered through the library, and the user's phone approving or denying the request."""

from __future__ import annotations

from typing import Any

import aiohttp
from ciba_client import ClientRegistration, ciba_client_metadata, fetch_metadata, register_client

from tests.e2e.conftest import Account
from tests.support.browser import decide_on_device
from tests.support.stack import Stack
from tests.support.webhook import WebhookReceiver


async def register(stack: Stack, mode: str = "poll", **metadata: Any) -> ClientRegistration:
    async with aiohttp.ClientSession() as http:
        provider = await fetch_metadata(http, stack.issuer)
        return await register_client(http, provider, ciba_client_metadata(
            client_name="Library kiosk", delivery_mode=mode, **metadata))


async def approve(webhook: WebhookReceiver, user: Account, decision: str = "approve") -> dict[str, Any]:
    """What the user's phone does: open the link, sign in, decide. The notification's payload."""
    note = await webhook.next_for(user.username)
    page = await decide_on_device(note.payload["authorization_url"], user.username, user.password, decision)
    assert page.status == 200, page.html
    return note.payload
