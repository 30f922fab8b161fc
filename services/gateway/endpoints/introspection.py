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
from functools import partial
from typing import Any, Protocol
from uuid import UUID

from aiohttp import web

from services.gateway import client_auth
from services.gateway.context import gateway
from services.gateway.forms import read_form
from services.gateway.middleware import NO_STORE
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.errors import Errors, InvalidToken
from shared.jose import tokens as jose_tokens
from shared.jose.keys import KeyRing
from shared.repositories.clients import Client
from shared.repositories.tokens import TokenRecord

PATH = "/introspect"
ERRORS: Errors = client_auth.ERRORS  # besides the middleware's; a token it cannot use is no error
INACTIVE = {"active": False}


class TokenRecords(Protocol):
    """Issued tokens (services.gateway.stores.tokens.PostgresTokens)."""

    async def by_id(self, token_id: UUID) -> TokenRecord | None: ...

    async def refresh_by_hashes(self, token_hashes: list[bytes]) -> TokenRecord | None: ...


def _may_see(config: ServerConfig, client: Client, record: TokenRecord) -> bool:
    return record.client_id == client.client_id or client.client_id in config.introspectionResourceServers


def _common(record: TokenRecord, issuer: str) -> dict[str, Any]:
    described: dict[str, Any] = {"active": True, "scope": " ".join(record.scope), "client_id": record.client_id,
                                 "sub": record.sub, "iss": issuer, "iat": int(record.issued_at.timestamp())}
    if record.expires_at is not None:
        described["exp"] = int(record.expires_at.timestamp())
    if record.acr is not None:
        described["acr"] = record.acr
    if record.auth_time is not None:
        described["auth_time"] = int(record.auth_time.timestamp())
    if record.authorization_details:
        described["authorization_details"] = record.authorization_details  # RFC 9396 9.2
    return described


async def _access(records: TokenRecords, keyring: KeyRing, issuer: str, config: ServerConfig, client: Client,
                  token: str, now: datetime) -> dict[str, Any] | None:
    if token.count(".") != 2:
        return None
    try:
        claims = jose_tokens.verify_access_token(keyring, token, issuer=issuer, now=now)
    except InvalidToken:
        return None
    record = None
    with suppress(ValueError, TypeError):
        record = await records.by_id(UUID(str(claims.get("jti"))))
    if record is None or record.kind != "access" or record.revoked_at is not None:
        return None
    if not _may_see(config, client, record):
        return None
    described = {**_common(record, issuer), "exp": claims["exp"], "aud": claims.get("aud"), "jti": str(record.id),
                 "token_type": "DPoP" if record.cnf and "jkt" in record.cnf else "Bearer"}
    if record.cnf:
        described["cnf"] = record.cnf  # RFC 8705 3.2, RFC 9449 6.2: what the token is bound to
    return described


async def _refresh(records: TokenRecords, secrets: Secrets, issuer: str, config: ServerConfig, client: Client,
                   token: str, now: datetime) -> dict[str, Any] | None:
    record = await records.refresh_by_hashes(secrets.hashes(token))
    if record is None or not _may_see(config, client, record):
        return None
    spent = record.revoked_at is not None or record.used_at is not None
    if spent or (record.expires_at is not None and record.expires_at <= now):
        return None
    return _common(record, issuer)


async def describe(records: TokenRecords, keyring: KeyRing, secrets: Secrets, config: ServerConfig, client: Client,
                   token: str, *, issuer: str, refresh_first: bool, now: datetime) -> dict[str, Any]:
    """What ``client`` may learn about ``token`` (RFC 7662 2.2): tried as an access token and
    as a refresh token, in the order the token_type_hint suggests; INACTIVE when neither."""
    lookups = [partial(_access, records, keyring, issuer, config, client, token, now),
               partial(_refresh, records, secrets, issuer, config, client, token, now)]
    if refresh_first:
        lookups.reverse()
    for lookup in lookups:
        described = await lookup()
        if described is not None:
            return described
    return dict(INACTIVE)


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    config = gw.rt.config
    form = await read_form(request)
    client = await gw.client_auth.authenticate(request, form, config)
    token = form.require("token")
    described = await describe(gw.tokens, gw.keyring, gw.rt.secrets, config, client, token, issuer=gw.issuer,
                               refresh_first=form.get("token_type_hint") == "refresh_token", now=gw.rt.clock.now())
    return web.json_response(described, headers=NO_STORE)
