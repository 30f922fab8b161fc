"""The relying-party library (clients/python, ``ciba_client``) against the four services: every
delivery mode, every client authentication method, signed requests, refresh, typed errors,
the synchronous wrapper and the kiosk example (issue 13)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from ciba_client import (
    AUTH_REQ_ID_CLAIM,
    AccessDenied,
    AuthorizationPending,
    CibaClient,
    ClientAuth,
    ClientKey,
    ClientRegistration,
    ClientSecretBasic,
    ClientSecretJwt,
    ClientSecretPost,
    ExpiredToken,
    InvalidBindingMessage,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    PrivateKeyJwt,
    PushResult,
    SyncCibaClient,
    UnknownUserId,
    ciba_client_metadata,
    fetch_metadata,
    half_hash,
    ping_handler,
    push_handler,
    register_client,
)

from tests.e2e.conftest import Account
from tests.support import tls
from tests.support.browser import decide_on_device
from tests.support.local_server import serve
from tests.support.stack import Stack
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class NotificationEndpoint:
    """The relying party's HTTPS notification endpoint on 127.0.0.1, where each test mounts the
    library's ping or push handler under a path of its own."""

    port: int = 0
    handlers: dict[str, Handler] = field(default_factory=dict)

    def new_url(self) -> tuple[str, str]:
        key = uuid.uuid4().hex
        return f"https://127.0.0.1:{self.port}/ciba/{key}", key

    async def route(self, request: web.Request) -> web.StreamResponse:
        handler = self.handlers.get(request.match_info["key"])
        return await handler(request) if handler else web.Response(status=404)


@pytest.fixture(scope="module")
async def endpoint(pki: tls.TestPKI) -> AsyncIterator[NotificationEndpoint]:
    notifications = NotificationEndpoint()
    app = web.Application()
    app.router.add_post("/ciba/{key}", notifications.route)
    runner, notifications.port = await serve(app, ssl_context=pki.server_context(), shutdown_timeout=0.5)
    yield notifications
    await runner.cleanup()


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


# Client authentication and signed requests.

@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "client_secret_jwt"])
async def test_each_secret_based_method_authenticates_at_both_endpoints(
        stack: Stack, user: Account, method: str) -> None:
    registration = await register(stack, token_endpoint_auth_method=method)
    secret = registration.client_secret or ""
    auth: ClientAuth = {"client_secret_basic": ClientSecretBasic(secret),
                        "client_secret_post": ClientSecretPost(secret),
                        "client_secret_jwt": ClientSecretJwt(secret, alg="HS384")}[method]
    async with await CibaClient.discover(stack.issuer, client_id=registration.client_id, auth=auth) as client:
        request = await client.start(login_hint=user.phone)
        with pytest.raises(AuthorizationPending):
            await client.token(request.auth_req_id)


async def test_private_key_jwt_client_signs_its_authentication_requests(
        stack: Stack, webhook: WebhookReceiver, user: Account) -> None:
    key = ClientKey.generate("PS256")
    registration = await register(stack, token_endpoint_auth_method="private_key_jwt", jwks=key.public_jwks(),
                                  backchannel_authentication_request_signing_alg="PS256")
    async with await CibaClient.discover(stack.issuer, client_id=registration.client_id, auth=PrivateKeyJwt(key),
                                         sign_requests=True) as client:
        with pytest.raises(InvalidRequest):  # registered to sign: an unsigned request is refused
            await client.start(login_hint=user.username, signed=False)
        request = await client.start(login_hint=user.username, binding_message="Signed 42")
        waiting = asyncio.create_task(request.wait(timeout=30))
        note = await approve(webhook, user)
        tokens = await waiting
        assert note["binding_message"] == "Signed 42"  # the parameters travelled inside the JWT
        assert tokens.claims["sub"] == user.sub
        assert (await client.refresh(tokens.refresh_token or "")).claims["sub"] == user.sub


async def test_protocol_errors_arrive_as_exceptions_named_after_their_codes(stack: Stack, user: Account) -> None:
    registration = await register(stack)
    async with await CibaClient.discover(stack.issuer, client_id=registration.client_id,
                                         auth=ClientSecretBasic(registration.client_secret or "")) as client:
        with pytest.raises(UnknownUserId):
            await client.start(login_hint=f"nobody-{uuid.uuid4().hex}@example.com")
        with pytest.raises(InvalidScope):
            await client.start(scope="profile", login_hint=user.username)
        with pytest.raises(InvalidBindingMessage):
            await client.start(login_hint=user.username, binding_message="<script>")
    async with await CibaClient.discover(stack.issuer, client_id=registration.client_id,
                                         auth=ClientSecretBasic("not-the-secret")) as impostor:
        with pytest.raises(InvalidClient) as refused:
            await impostor.start(login_hint=user.username)
    assert refused.value.status == 401


# Ping and push: the library's handlers as the notification endpoint.

async def test_ping_handler_checks_the_bearer_token_and_wait_then_fetches_the_tokens(
        stack: Stack, webhook: WebhookReceiver, user: Account, endpoint: NotificationEndpoint) -> None:
    url, key = endpoint.new_url()
    registration = await register(stack, "ping", notification_endpoint=url)
    pings: list[str] = []

    async def on_ping(auth_req_id: str) -> None:
        pings.append(auth_req_id)

    async with await CibaClient.discover(stack.issuer, client_id=registration.client_id, delivery_mode="ping",
                                         auth=ClientSecretBasic(registration.client_secret or "")) as client:
        endpoint.handlers[key] = ping_handler(client, on_ping)
        request = await client.start(login_hint=user.username)
        waiting = asyncio.create_task(request.wait(timeout=30))
        await approve(webhook, user)
        tokens = await waiting
    assert pings == [request.auth_req_id]
    assert tokens.claims["sub"] == user.sub and AUTH_REQ_ID_CLAIM not in tokens.claims


async def test_push_handler_verifies_the_pushed_tokens_and_hands_them_to_wait(
        stack: Stack, webhook: WebhookReceiver, user: Account, endpoint: NotificationEndpoint) -> None:
    url, key = endpoint.new_url()
    registration = await register(stack, "push", notification_endpoint=url)
    results: list[PushResult] = []

    async def on_result(result: PushResult) -> None:
        results.append(result)

    async with await CibaClient.discover(stack.issuer, client_id=registration.client_id, delivery_mode="push",
                                         auth=ClientSecretBasic(registration.client_secret or "")) as client:
        endpoint.handlers[key] = push_handler(client, on_result)
        request = await client.start(login_hint=user.username, scope="openid email")
        waiting = asyncio.create_task(request.wait(timeout=30))
        await approve(webhook, user)
        tokens = await waiting
        # CIBA 10.3.1: the id_token binds the request and both tokens, and the library checked it.
        assert tokens.claims[AUTH_REQ_ID_CLAIM] == request.auth_req_id == tokens.auth_req_id
        assert tokens.claims["rt_hash"] == half_hash(tokens.refresh_token or "", "RS256")
        assert tokens.claims["at_hash"] == half_hash(tokens.access_token, "RS256")
        assert (await client.userinfo(tokens.access_token))["email"] == user.email
    assert [r.tokens for r in results] == [tokens]
    shown = await stack.admin_async("request", "show", request.auth_req_id)
    assert shown["delivery_state"] == "delivered"


async def test_a_pushed_denial_raises_access_denied_from_wait(
        stack: Stack, webhook: WebhookReceiver, user: Account, endpoint: NotificationEndpoint) -> None:
    url, key = endpoint.new_url()
    registration = await register(stack, "push", notification_endpoint=url)
    async with await CibaClient.discover(stack.issuer, client_id=registration.client_id, delivery_mode="push",
                                         auth=ClientSecretBasic(registration.client_secret or "")) as client:
        endpoint.handlers[key] = push_handler(client)
        request = await client.start(login_hint=user.username)
        waiting = asyncio.create_task(request.wait(timeout=30))
        await approve(webhook, user, "deny")
        with pytest.raises(AccessDenied):
            await waiting


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
