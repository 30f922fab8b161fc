"""Sender-constrained access tokens: at /token, what a new access token is bound to; at a
resource (/userinfo), whether the caller holds what the token is bound to.

The mechanisms are the client's TLS certificate (RFC 8705: ``cnf.x5t#S256``) and a DPoP key
(RFC 9449: ``cnf.jkt``, token_type DPoP). Each has its module; this one decides which applies,
so the grants and the resources see one ``Binding`` and one check.
"""

from __future__ import annotations

from aiohttp import web

from services.gateway import dpop, mtls
from services.gateway.context import Gateway
from shared.domain.client_certificates import THUMBPRINT
from shared.domain.token_issuance import BEARER, Binding
from shared.repositories.clients import Client
from shared.repositories.tokens import TokenRecord


async def binding_at_token(request: web.Request, gw: Gateway, client: Client) -> Binding:
    """What the tokens this /token request mints will be bound to."""
    # DPoP (RFC 9449): a DPoP header binds the tokens to the proof's key (cnf.jkt, token_type DPoP).
    bound = await dpop.binding_at_token(request, gw, client)
    if bound is not None:
        return bound
    # mTLS (RFC 8705 3): the certificate of this connection, when the client registered
    # tls_client_certificate_bound_access_tokens or authenticated with it (cnf.x5t#S256).
    bound = mtls.binding_at_token(request, gw, client)
    if bound is not None:
        return bound
    return BEARER


async def check_presenter(request: web.Request, gw: Gateway, record: TokenRecord, access_token: str) -> None:
    """Raise InvalidToken unless the caller presenting ``access_token`` holds what it is bound to."""
    # DPoP (RFC 9449 7): a DPoP-bound token needs Authorization: DPoP and a proof of its key; an
    # unbound one is refused with the DPoP scheme.
    if record.cnf and "jkt" in record.cnf:
        await dpop.check_presenter(request, gw, record.cnf["jkt"], access_token, htu=f"{gw.issuer}{request.path}")
        return None
    dpop.refuse_unbound(request)
    # mTLS (RFC 8705 3): a certificate-bound token needs the same certificate on this request.
    if record.cnf and THUMBPRINT in record.cnf:
        mtls.check_presenter(request, gw, record.cnf[THUMBPRINT])
    return None
