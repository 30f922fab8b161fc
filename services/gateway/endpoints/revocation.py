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
from datetime import datetime
from functools import partial
from typing import Protocol
from uuid import UUID

from aiohttp import web

from services.gateway import client_auth
from services.gateway.context import gateway
from services.gateway.forms import read_form
from services.gateway.middleware import NO_STORE
from shared.crypto import Secrets
from shared.errors import Errors, InvalidToken
from shared.jose import tokens as jose_tokens
from shared.jose.keys import KeyRing
from shared.logging import get_logger
from shared.repositories.clients import Client
from shared.repositories.tokens import TokenRecord

PATH = "/revoke"
ERRORS: Errors = client_auth.ERRORS  # besides the middleware's; a token it cannot use is no error
log = get_logger("ciba.gateway")


class RevocableTokens(Protocol):
    """Issued tokens (services.gateway.stores.tokens.PostgresTokens)."""

    async def refresh_by_hashes(self, token_hashes: list[bytes]) -> TokenRecord | None: ...

    async def revoke(self, token_id: UUID, now: datetime) -> bool: ...

    async def revoke_grant(self, grant_id: UUID, now: datetime) -> int: ...


async def _revoke_refresh(tokens: RevocableTokens, secrets: Secrets, client: Client, token: str,
                          now: datetime) -> bool:
    record = await tokens.refresh_by_hashes(secrets.hashes(token))
    if record is None or record.client_id != client.client_id:
        return False
    await tokens.revoke_grant(record.grant_id, now)
    return True


async def _revoke_access(tokens: RevocableTokens, keyring: KeyRing, issuer: str, client: Client, token: str,
                         now: datetime) -> bool:
    if token.count(".") != 2:
        return False
    try:
        claims = jose_tokens.verify_access_token(keyring, token, issuer=issuer, now=now)
    except InvalidToken:
        return False  # expired ones included: they are worth nothing already
    jti = None
    with suppress(ValueError, TypeError):
        jti = UUID(str(claims.get("jti")))
    if jti is None or claims.get("client_id") != client.client_id:
        return False
    return await tokens.revoke(jti, now)


async def revoke(tokens: RevocableTokens, keyring: KeyRing, secrets: Secrets, client: Client, token: str, *,
                 issuer: str, refresh_first: bool, now: datetime) -> str | None:
    """Revoke ``token`` if it is ``client``'s: "access" or "refresh" for what it was, None when
    nothing was revoked (RFC 7009 2.2: the caller is not told which)."""
    attempts = [("access", partial(_revoke_access, tokens, keyring, issuer, client, token, now)),
                ("refresh", partial(_revoke_refresh, tokens, secrets, client, token, now))]
    if refresh_first:
        attempts.reverse()
    for kind, attempt in attempts:
        if await attempt():
            return kind
    return None


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    form = await read_form(request)
    client = await gw.client_auth.authenticate(request, form, gw.rt.config)
    token = form.require("token")
    kind = await revoke(gw.tokens, gw.keyring, gw.rt.secrets, client, token, issuer=gw.issuer,
                        refresh_first=form.get("token_type_hint") == "refresh_token", now=gw.rt.clock.now())
    if kind is not None:
        log.info("token_revoked", client_id=client.client_id, kind=kind)
    return web.Response(status=200, headers=NO_STORE)
