"""POST /revoke: token revocation (RFC 7009) for the client a token was issued to.

The client authenticates as at /token. ``token`` is a refresh token (opaque; revoking it ends
its whole grant, RFC 7009 2.1) or an access token (a JWT this server signed; revoking it ends
that token: /userinfo refuses it at once). ``token_type_hint`` only says which to try first.

The answer is 200 with an empty body whether or not anything was revoked (2.2): a token that
is unknown, malformed, expired, already revoked or another client's is left alone and the
caller learns nothing about it.
"""

from __future__ import annotations

from contextlib import suppress
from uuid import UUID

from aiohttp import web

from services.gateway.client_auth import authenticate_client
from services.gateway.context import Gateway, gateway
from services.gateway.forms import read_form
from services.gateway.middleware import NO_STORE
from shared.errors import InvalidToken
from shared.jose import tokens as jose_tokens
from shared.logging import get_logger
from shared.repositories import tokens
from shared.repositories.clients import Client

PATH = "/revoke"
log = get_logger("ciba.gateway")


async def _revoke_refresh(gw: Gateway, client: Client, token: str) -> bool:
    record = await tokens.get_refresh(gw.rt.pool, gw.rt.secrets.hashes(token))
    if record is None or record.client_id != client.client_id:
        return False
    await tokens.revoke_grant(gw.rt.pool, record.grant_id, gw.rt.clock.now())
    return True


async def _revoke_access(gw: Gateway, client: Client, token: str) -> bool:
    if token.count(".") != 2:
        return False
    try:
        claims = jose_tokens.verify_access_token(gw.keyring, token, issuer=gw.issuer, now=gw.rt.clock.now())
    except InvalidToken:
        return False  # expired ones included: they are worth nothing already
    jti = None
    with suppress(ValueError, TypeError):
        jti = UUID(str(claims.get("jti")))
    if jti is None or claims.get("client_id") != client.client_id:
        return False
    return await tokens.revoke(gw.rt.pool, jti, gw.rt.clock.now())


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    form = await read_form(request)
    client = await authenticate_client(request, form, gw)
    token = form.require("token")
    attempts = (_revoke_access, _revoke_refresh)
    if form.get("token_type_hint") == "refresh_token":
        attempts = (_revoke_refresh, _revoke_access)
    for attempt in attempts:
        if await attempt(gw, client, token):
            log.info("token_revoked", client_id=client.client_id, kind=attempt.__name__.removeprefix("_revoke_"))
            break
    return web.Response(status=200, headers=NO_STORE)
