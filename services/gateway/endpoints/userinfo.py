"""GET or POST /userinfo (OIDC Core 5.3) with the access token as a Bearer token (RFC 6750), or
as a DPoP token with a proof when it is DPoP-bound (RFC 9449 7)."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from services.gateway import bearer, sender_constraint
from services.gateway.bearer import bearer_token
from services.gateway.context import gateway
from services.gateway.middleware import NO_STORE
from services.gateway.sender_constraint import check_presenter
from shared.domain.claims import user_claims
from shared.errors import Errors, InvalidToken
from shared.jose.tokens import verify_access_token
from shared.repositories import tokens, users

PATH = "/userinfo"
# What it answers besides the middleware's, as /openapi.json documents it.
ERRORS: Errors = (*bearer.ERRORS, *sender_constraint.ERRORS)


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    now = gw.rt.clock.now()
    access_token = bearer_token(request, schemes=("bearer", "dpop"))  # DPoP: RFC 9449 7.1
    claims = verify_access_token(gw.keyring, access_token, issuer=gw.issuer, now=now)
    try:
        jti = UUID(str(claims.get("jti")))
    except ValueError:
        raise InvalidToken("the access token has no valid jti") from None
    record = await tokens.get(gw.rt.pool, jti)
    if record is None or record.revoked_at is not None:
        raise InvalidToken("the access token has been revoked")
    await check_presenter(request, gw.sender_constraints, record, access_token, gw.rt.config)
    user = await users.get(gw.rt.pool, record.sub)
    if user is None:
        raise InvalidToken("the user no longer exists")
    return web.json_response(user_claims(user, record.scope), headers=NO_STORE)
