"""GET, PUT and DELETE /register/{client_id}: a client manages its own registration with the
registration access token /register gave it (RFC 7592).

- GET answers the client information (RFC 7592 2.1), without the secret.
- PUT replaces the registered metadata with the body's (2.2): what the body leaves out takes
  its default. The body must name the client's client_id; a client_secret in it must be the
  current one; the fields the server assigns (secret, token, URIs, times) are not changed.
- DELETE removes the client, its requests and tokens (2.3).

A token that does not belong to the client_id in the path, a missing one, and a client_id that
does not exist all get the same 401 invalid_token: nobody learns which clients exist.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from services.gateway.bearer import bearer_token
from services.gateway.context import gateway
from services.gateway.endpoints.register import information, read_metadata
from services.gateway.middleware import NO_STORE
from shared.crypto import Secrets
from shared.domain import client_metadata
from shared.errors import Errors, InvalidRequest, InvalidToken
from shared.repositories.clients import Client

PATH = "/register/{client_id}"
# What its three methods answer besides the middleware's, as /openapi.json documents it.
ERRORS: Errors = (*client_metadata.ERRORS, InvalidRequest, InvalidToken)
NOT_VALID = "the registration access token is not valid for this client"


class Registrations(Protocol):
    """Clients' registrations (services.gateway.stores.clients.PostgresRegistrations)."""

    async def registration_token_hash(self, client_id: str) -> bytes | None: ...

    async def get(self, client_id: str) -> Client | None: ...

    async def replace(self, client: Client) -> bool: ...

    async def remove(self, client_id: str) -> bool: ...


async def authorized(registrations: Registrations, secrets: Secrets, client_id: str, token: str) -> Client:
    """The client ``token`` is the registration access token of; InvalidToken otherwise."""
    stored = await registrations.registration_token_hash(client_id) if len(client_id) <= 200 else None
    if stored is None:
        secrets.hash(token)  # the same work either way: timing does not tell
        raise InvalidToken(NOT_VALID)
    if not secrets.verify_hash(token, stored):
        raise InvalidToken(NOT_VALID)
    client = await registrations.get(client_id)
    if client is None:  # removed between the two reads
        raise InvalidToken(NOT_VALID)
    return client


async def _authorized(request: web.Request, registrations: Registrations, secrets: Secrets) -> tuple[Client, str]:
    token = bearer_token(request, what="registration access token")
    return await authorized(registrations, secrets, request.match_info["client_id"], token), token


def check_replacement(client: Client, raw: dict[str, Any], secrets: Secrets) -> None:
    """A PUT body names the client's client_id, and a client_secret in it is the current one."""
    if raw.get("client_id") != client.client_id:
        raise InvalidRequest("the body must carry the client's client_id")
    secret = raw.get("client_secret")
    if secret is not None and (not isinstance(secret, str) or client.client_secret_hash is None
                               or not secrets.verify_hash(secret, client.client_secret_hash)):
        raise InvalidRequest("client_secret is not the client's current secret")


async def read(request: web.Request) -> web.Response:
    gw = gateway(request)
    client, token = await _authorized(request, gw.registrations, gw.rt.secrets)
    return web.json_response(information(gw.issuer, client, token), headers=NO_STORE)


async def replace(request: web.Request) -> web.Response:
    gw = gateway(request)
    client, token = await _authorized(request, gw.registrations, gw.rt.secrets)
    metadata, raw = await read_metadata(request)
    check_replacement(client, raw, gw.rt.secrets)
    updated = client_metadata.client_from(
        metadata, gw.rt.config, development=gw.rt.settings.development, client_id=client.client_id,
        secret_hash=client.client_secret_hash, secret_enc=client.client_secret_enc, created_at=client.created_at)
    await gw.registrations.replace(updated)
    return web.json_response(information(gw.issuer, updated, token), headers=NO_STORE)


async def delete(request: web.Request) -> web.Response:
    gw = gateway(request)
    client, _ = await _authorized(request, gw.registrations, gw.rt.secrets)
    await gw.registrations.remove(client.client_id)
    return web.Response(status=204, headers=NO_STORE)
