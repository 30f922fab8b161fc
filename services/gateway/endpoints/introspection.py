"""POST /introspect: token introspection (RFC 7662).

The caller authenticates as a client, as at /token. It learns about a token only if the token
was issued to it, or if the operator lists it in ``introspectionResourceServers`` (the APIs
that accept our access tokens). Everything else, like an unknown, expired, revoked or used
token, is ``{"active": false}`` and nothing more (RFC 7662 2.2).

An active access token is described from its signed claims and its record (which says
whether it was revoked); an active refresh token from its record: not used (they rotate),
not revoked, not expired.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import Any
from uuid import UUID

from aiohttp import web

from services.gateway.client_auth import authenticate_client
from services.gateway.context import Gateway, gateway
from services.gateway.forms import read_form
from services.gateway.middleware import NO_STORE
from shared.errors import InvalidToken
from shared.jose import tokens as jose_tokens
from shared.repositories import tokens
from shared.repositories.clients import Client
from shared.repositories.tokens import TokenRecord

PATH = "/introspect"
INACTIVE = {"active": False}


def _may_see(gw: Gateway, client: Client, record: TokenRecord) -> bool:
    return record.client_id == client.client_id or client.client_id in gw.rt.config.introspectionResourceServers


def _common(record: TokenRecord, gw: Gateway) -> dict[str, Any]:
    described: dict[str, Any] = {"active": True, "scope": " ".join(record.scope), "client_id": record.client_id,
                                 "sub": record.sub, "iss": gw.issuer, "iat": int(record.issued_at.timestamp())}
    if record.expires_at is not None:
        described["exp"] = int(record.expires_at.timestamp())
    if record.acr is not None:
        described["acr"] = record.acr
    if record.auth_time is not None:
        described["auth_time"] = int(record.auth_time.timestamp())
    if record.authorization_details:
        described["authorization_details"] = record.authorization_details  # RFC 9396 9.2
    return described


async def _access(gw: Gateway, client: Client, token: str, now: datetime) -> dict[str, Any] | None:
    if token.count(".") != 2:
        return None
    try:
        claims = jose_tokens.verify_access_token(gw.keyring, token, issuer=gw.issuer, now=now)
    except InvalidToken:
        return None
    record = None
    with suppress(ValueError, TypeError):
        record = await tokens.get(gw.rt.pool, UUID(str(claims.get("jti"))))
    if record is None or record.kind != "access" or record.revoked_at is not None or not _may_see(gw, client, record):
        return None
    described = {**_common(record, gw), "exp": claims["exp"], "aud": claims.get("aud"), "jti": str(record.id),
                 "token_type": "DPoP" if record.cnf and "jkt" in record.cnf else "Bearer"}
    if record.cnf:
        described["cnf"] = record.cnf  # RFC 8705 3.2, RFC 9449 6.2: what the token is bound to
    return described


async def _refresh(gw: Gateway, client: Client, token: str, now: datetime) -> dict[str, Any] | None:
    record = await tokens.get_refresh(gw.rt.pool, gw.rt.secrets.hashes(token))
    if record is None or not _may_see(gw, client, record):
        return None
    spent = record.revoked_at is not None or record.used_at is not None
    if spent or (record.expires_at is not None and record.expires_at <= now):
        return None
    return _common(record, gw)


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    form = await read_form(request)
    client = await authenticate_client(request, form, gw)
    token = form.require("token")
    now = gw.rt.clock.now()
    lookups = (_refresh, _access) if form.get("token_type_hint") == "refresh_token" else (_access, _refresh)
    for lookup in lookups:
        described = await lookup(gw, client, token, now)
        if described is not None:
            return web.json_response(described, headers=NO_STORE)
    return web.json_response(INACTIVE, headers=NO_STORE)
