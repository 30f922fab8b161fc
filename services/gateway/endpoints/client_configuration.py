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

from aiohttp import web

from services.gateway.bearer import bearer_token
from services.gateway.context import Gateway, gateway
from services.gateway.endpoints.register import information, read_metadata
from services.gateway.middleware import NO_STORE
from shared.domain import client_metadata
from shared.errors import InvalidRequest, InvalidToken
from shared.repositories import clients as clients_repo
from shared.repositories.clients import Client

PATH = "/register/{client_id}"


async def _authorized(request: web.Request) -> tuple[Gateway, Client, str]:
    gw = gateway(request)
    token = bearer_token(request, what="registration access token")
    client_id = request.match_info["client_id"]
    stored = await clients_repo.registration_token_hash(gw.rt.pool, client_id) if len(client_id) <= 200 else None
    if stored is None:
        gw.rt.secrets.hash(token)  # the same work either way: timing does not tell
        raise InvalidToken("the registration access token is not valid for this client")
    if not gw.rt.secrets.verify_hash(token, stored):
        raise InvalidToken("the registration access token is not valid for this client")
    client = await clients_repo.get(gw.rt.pool, client_id)
    if client is None:  # removed between the two reads
        raise InvalidToken("the registration access token is not valid for this client")
    return gw, client, token


async def read(request: web.Request) -> web.Response:
    gw, client, token = await _authorized(request)
    return web.json_response(information(gw, client, token), headers=NO_STORE)


async def replace(request: web.Request) -> web.Response:
    gw, client, token = await _authorized(request)
    metadata, raw = await read_metadata(request)
    if raw.get("client_id") != client.client_id:
        raise InvalidRequest("the body must carry the client's client_id")
    secret = raw.get("client_secret")
    if secret is not None and (not isinstance(secret, str) or client.client_secret_hash is None
                               or not gw.rt.secrets.verify_hash(secret, client.client_secret_hash)):
        raise InvalidRequest("client_secret is not the client's current secret")
    updated = client_metadata.client_from(
        metadata, gw.rt.config, development=gw.rt.settings.development, client_id=client.client_id,
        secret_hash=client.client_secret_hash, secret_enc=client.client_secret_enc, created_at=client.created_at)
    await clients_repo.replace(gw.rt.pool, updated)
    return web.json_response(information(gw, updated, token), headers=NO_STORE)


async def delete(request: web.Request) -> web.Response:
    gw, client, _ = await _authorized(request)
    await clients_repo.remove(gw.rt.pool, client.client_id)
    return web.Response(status=204, headers=NO_STORE)
