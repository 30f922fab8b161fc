"""The relying-party library (clients/python, ``ciba_client``) against the four services in poll
mode: long polls returning verified tokens the moment the user approves, denial and expiry as
typed errors, refresh, the synchronous wrapper and the kiosk example (issue 13)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ciba_client import (
    AccessDenied,
    CibaClient,
    ClientSecretBasic,
    ExpiredToken,
    InvalidGrant,
    SyncCibaClient,
    half_hash,
)

from tests.e2e.client_library_support import approve, register
from tests.e2e.conftest import Account
from tests.support.stack import Stack
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class PreferSeen:
    """The Prefer header of every request to /token, seen through aiohttp's tracing."""

    values: list[str | None] = field(default_factory=list)

    def trace(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()

        async def on_start(_session: Any, _context: Any, params: aiohttp.TraceRequestStartParams) -> None:
            if params.url.path == "/token":
                self.values.append(params.headers.get("Prefer"))
        config.on_request_start.append(on_start)
        return config


@pytest.fixture
async def poll_client(stack: Stack) -> AsyncIterator[tuple[CibaClient, PreferSeen]]:
    registration = await register(stack)
    seen = PreferSeen()
    session = aiohttp.ClientSession(trace_configs=[seen.trace()])
    client = await CibaClient.discover(stack.issuer, client_id=registration.client_id, session=session,
                                       auth=ClientSecretBasic(registration.client_secret or ""))
    yield client, seen
    await client.close()
    await session.close()


# Poll mode.

async def test_wait_long_polls_and_returns_verified_tokens_the_moment_the_user_approves(
        stack: Stack, webhook: WebhookReceiver, user: Account, poll_client: tuple[CibaClient, PreferSeen]) -> None:
    client, seen = poll_client
    request = await client.start(scope="openid profile email", login_hint=user.email, binding_message="Kiosk 7Q")
    assert request.interval == 5 and request.expires_in == 600
    waiting = asyncio.create_task(request.wait(timeout=30))
    note = await approve(webhook, user)
    tokens = await waiting
    assert note["binding_message"] == "Kiosk 7Q"
    # One poll, held open until the approval: Prefer: wait, and no interval slept.
    assert seen.values == ["wait=30"]
    assert tokens.claims["sub"] == user.sub and tokens.claims["aud"] == client.client_id
    assert tokens.claims["iss"] == stack.issuer and tokens.claims["acr"] == "pwd"
    assert tokens.claims["at_hash"] == half_hash(tokens.access_token, "RS256")
    assert tokens.scopes == ("openid", "profile", "email") and tokens.refresh_token
    info = await client.userinfo(tokens.access_token, expected_sub=user.sub)
    assert info["name"] == "Test User" and info["email"] == user.email

    refreshed = await client.refresh(tokens.refresh_token)
    assert refreshed.claims["sub"] == user.sub and refreshed.refresh_token != tokens.refresh_token
    with pytest.raises(InvalidGrant):  # rotated: the old one is spent (and its replay ends the grant)
        await client.refresh(tokens.refresh_token)


async def test_wait_raises_access_denied_when_the_user_denies(
        stack: Stack, webhook: WebhookReceiver, user: Account, poll_client: tuple[CibaClient, PreferSeen]) -> None:
    client, _seen = poll_client
    request = await client.start(login_hint=user.username)
    waiting = asyncio.create_task(request.wait(timeout=30))
    await approve(webhook, user, "deny")
    with pytest.raises(AccessDenied) as denied:
        await waiting
    assert denied.value.status == 400 and denied.value.error == "access_denied"


async def test_wait_raises_expired_token_once_requested_expiry_passes(
        stack: Stack, user: Account, poll_client: tuple[CibaClient, PreferSeen]) -> None:
    client, seen = poll_client
    request = await client.start(login_hint=user.username, requested_expiry=2)
    started = time.monotonic()
    with pytest.raises(ExpiredToken):
        await request.wait(timeout=30)
    assert time.monotonic() - started < 15  # held to the expiry, then at most one more poll
    # Never asks to be held past the request's life.
    assert all(v is None or int(v.removeprefix("wait=")) <= 2 for v in seen.values), seen.values


# The synchronous wrapper, and the example built on it.

async def test_the_sync_wrapper_starts_waits_and_refreshes(stack: Stack, webhook: WebhookReceiver,
                                                          user: Account) -> None:
    registration = await register(stack)
    auth = ClientSecretBasic(registration.client_secret or "")
    # In threads: the wrapper blocks, and this loop must keep serving the webhook.
    client = await asyncio.to_thread(SyncCibaClient.discover, stack.issuer, client_id=registration.client_id,
                                     auth=auth)
    try:
        request = await asyncio.to_thread(client.start, login_hint=user.username)
        waiting = asyncio.create_task(asyncio.to_thread(client.wait, request, timeout=30))
        await approve(webhook, user)
        tokens = await waiting
        refreshed = await asyncio.to_thread(client.refresh, tokens.refresh_token)
    finally:
        await asyncio.to_thread(client.close)
    assert tokens.claims["sub"] == refreshed.claims["sub"] == user.sub


async def test_the_kiosk_example_shows_a_binding_message_and_greets_the_user_by_name(
        stack: Stack, webhook: WebhookReceiver, user: Account) -> None:
    registration = await register(stack)
    env = {**os.environ, "CIBA_CLIENT_ID": registration.client_id,
           "CIBA_CLIENT_SECRET": registration.client_secret or ""}
    kiosk = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "kiosk.py"), stack.issuer, user.email, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        shown = (await asyncio.wait_for(kiosk.stdout.readline(), 20)).decode()
        note = await approve(webhook, user)
        assert f'"{note["binding_message"]}"' in shown and note["binding_message"].startswith("Kiosk ")
        out, err = await asyncio.wait_for(kiosk.communicate(), 20)
    finally:
        if kiosk.returncode is None:
            kiosk.kill()
            await kiosk.wait()
    assert kiosk.returncode == 0, err.decode()
    assert out.decode().strip() == "Signed in: Test User"
