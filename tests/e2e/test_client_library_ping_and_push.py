"""The relying-party library (clients/python, ``ciba_client``) against the four services in ping
and push modes: its ping and push handlers as the relying party's HTTPS notification endpoint,
checking the bearer token, verifying pushed tokens and handing them, or a pushed denial, to
wait."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from ciba_client import (
    AUTH_REQ_ID_CLAIM,
    AccessDenied,
    CibaClient,
    ClientSecretBasic,
    PushResult,
    half_hash,
    ping_handler,
    push_handler,
)

from tests.e2e.client_library_support import approve, register
from tests.e2e.conftest import Account
from tests.support import tls
from tests.support.local_server import serve
from tests.support.stack import Stack
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e
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
