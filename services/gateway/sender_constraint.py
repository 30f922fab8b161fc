"""Sender-constrained access tokens: at /token, what a new access token is bound to; at a
resource (/userinfo), whether the caller holds what the token is bound to.

The mechanisms are the client's TLS certificate (RFC 8705: ``cnf.x5t#S256``) and a DPoP key
(RFC 9449: ``cnf.jkt``, token_type DPoP). Each has its module; this one decides which applies,
so the grants and the resources see one ``Binding`` and one check.
"""

from __future__ import annotations

from aiohttp import web

from services.gateway.context import Gateway
from shared.domain.token_issuance import BEARER, Binding
from shared.repositories.clients import Client
from shared.repositories.tokens import TokenRecord


async def binding_at_token(request: web.Request, gw: Gateway, client: Client) -> Binding:
    """What the tokens this /token request mints will be bound to."""
    return BEARER


async def check_presenter(request: web.Request, gw: Gateway, record: TokenRecord, access_token: str) -> None:
    """Raise InvalidToken unless the caller presenting ``access_token`` holds what it is bound to."""
    return None
