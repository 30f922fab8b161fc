"""The relying-party library (clients/python, ``ciba_client``) against the four services: every
secret-based client authentication method at both endpoints, signed requests from a
private_key_jwt client, and protocol errors arriving as exceptions named after their codes."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from ciba_client import (
    AuthorizationPending,
    CibaClient,
    ClientAuth,
    ClientKey,
    ClientSecretBasic,
    ClientSecretJwt,
    ClientSecretPost,
    InvalidBindingMessage,
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    PrivateKeyJwt,
    UnknownUserId,
)

from tests.e2e.client_library_support import approve, register
from tests.e2e.conftest import Account
from tests.support.stack import Stack
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e


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
