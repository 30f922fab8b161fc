"""POST /register: dynamic client registration (RFC 7591) with the CIBA metadata of CIBA
Core 4 (backchannel_token_delivery_mode, backchannel_client_notification_endpoint,
backchannel_authentication_request_signing_alg, backchannel_user_code_parameter).

A CIBA-only client registers without redirect_uris and with ``response_types: []``. Unknown
metadata is ignored (RFC 7591 2). The client secret is returned once and stored as a keyed hash
(and encrypted). The answer carries a registration access token and the client's
configuration URI, where it reads, replaces or deletes its registration (RFC 7592,
``client_configuration``). With dynamicRegistrationInitialAccessToken set, registering takes
that bearer token (RFC 7591 3).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol

from aiohttp import web

from services.gateway.bearer import bearer_token
from services.gateway.context import gateway
from services.gateway.middleware import NO_STORE
from shared.config.model import ServerConfig
from shared.crypto import Secrets, constant_time_equal, new_token
from shared.domain import client_metadata
from shared.domain.client_metadata import ClientMetadata
from shared.errors import AccessDenied, Errors, InvalidClientMetadata, InvalidRequest, InvalidToken
from shared.repositories.clients import Client

PATH = "/register"
# What it answers besides the middleware's, as /openapi.json documents it.
ERRORS: Errors = (*client_metadata.ERRORS, InvalidRequest, InvalidToken, AccessDenied.at(403))


class NewClients(Protocol):
    """Where a registered client is kept (services.gateway.stores.clients.PostgresRegistrations)."""

    async def add(self, client: Client, registration_token_hash: bytes) -> None: ...


async def read_metadata(request: web.Request) -> tuple[ClientMetadata, dict[str, Any]]:
    """The body's metadata, validated, and the raw JSON object it came from."""
    if request.content_type != "application/json":
        raise InvalidRequest("the request body must be application/json")
    try:
        raw = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidClientMetadata("the request body is not valid JSON") from None
    return client_metadata.parse(raw), raw


def information(issuer: str, client: Client, registration_access_token: str) -> dict[str, Any]:
    """The client information response (RFC 7591 3.2.1, RFC 7592 3), without the secret."""
    return {
        **client.metadata,
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_secret_expires_at": 0,
        "registration_access_token": registration_access_token,
        "registration_client_uri": f"{issuer}{PATH}/{client.client_id}",
    }


async def register(clients: NewClients, secrets: Secrets, config: ServerConfig, metadata: ClientMetadata, *,
                   issuer: str, development: bool, now: datetime) -> dict[str, Any]:
    """Register the client ``metadata`` describes; the information response with its secret."""
    client_secret, registration_access_token = new_token(32), new_token(32)
    # The secret is kept encrypted too: client_secret_jwt verifies an HMAC keyed with it, and
    # `ciba-admin secrets rekey` re-hashes it under a new master key.
    client = client_metadata.client_from(
        metadata, config, development=development, client_id=new_token(16),
        secret_hash=secrets.hash(client_secret), secret_enc=secrets.encrypt(client_secret), created_at=now)
    await clients.add(client, secrets.hash(registration_access_token))
    return {**information(issuer, client, registration_access_token), "client_secret": client_secret}


def _check_initial_access_token(request: web.Request, required: str | None) -> None:
    """With dynamicRegistrationInitialAccessToken set, only its bearer may register."""
    if required is None:
        return
    presented = bearer_token(request, what="initial access token")
    if not constant_time_equal(presented, required):
        raise InvalidToken("the initial access token is not valid")


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    config = gw.rt.config
    if not config.dynamicRegistrationEnabled:
        raise AccessDenied("dynamic registration is closed on this server", status=403)
    _check_initial_access_token(request, config.dynamicRegistrationInitialAccessToken)
    metadata, _ = await read_metadata(request)
    body = await register(gw.registrations, gw.rt.secrets, config, metadata, issuer=gw.issuer,
                          development=gw.rt.settings.development, now=gw.rt.clock.now())
    return web.json_response(body, status=201, headers=NO_STORE)
