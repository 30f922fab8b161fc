"""Sender-constrained access tokens: at /token, what a new access token is bound to; at a
resource (/userinfo), whether the caller holds what the token is bound to.

The mechanisms are the client's TLS certificate (RFC 8705: ``cnf.x5t#S256``) and a DPoP key
(RFC 9449: ``cnf.jkt``, token_type DPoP). Each has its module; this one decides which applies,
so the grants and the resources see one ``Binding`` and one check.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from services.gateway import dpop, mtls
from services.gateway.dpop_proof import ProofCheck, SeenProofs
from shared.clock import Clock
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.domain.client_certificates import THUMBPRINT
from shared.domain.token_issuance import BEARER, Binding
from shared.errors import Errors, InvalidRequest, InvalidToken
from shared.repositories.clients import Client
from shared.repositories.tokens import TokenRecord

# DPoP's, and mTLS's at /token and at a resource (not its client authentication).
ERRORS: Errors = (*dpop.ERRORS, InvalidRequest, InvalidToken)


@dataclass(frozen=True)
class SenderConstraints:
    """What binding a token to its sender, and checking it, reads: built once in build_gateway.
    The handler's config snapshot comes with each call."""

    issuer: str
    certificates: mtls.CertificateSource  # where a request's client certificate comes from
    secrets: Secrets  # DPoP nonces
    clock: Clock
    seen_proofs: SeenProofs

    def proof_check(self, config: ServerConfig) -> ProofCheck:
        return ProofCheck(config, self.clock.now(), self.secrets, self.seen_proofs)


async def binding_at_token(request: web.Request, constraints: SenderConstraints, client: Client,
                           config: ServerConfig) -> Binding:
    """What the tokens this /token request mints will be bound to."""
    # DPoP (RFC 9449): a DPoP header binds the tokens to the proof's key (cnf.jkt, token_type DPoP).
    check = constraints.proof_check(config)
    bound = await dpop.binding_at_token(request, check, client, htu=f"{constraints.issuer}/token")
    if bound is not None:
        return bound
    # mTLS (RFC 8705 3): the certificate of this connection, when the client registered
    # tls_client_certificate_bound_access_tokens or authenticated with it (cnf.x5t#S256).
    bound = mtls.binding_at_token(request, constraints.certificates, client)
    if bound is not None:
        return bound
    return BEARER


async def check_presenter(request: web.Request, constraints: SenderConstraints, record: TokenRecord,
                          access_token: str, config: ServerConfig) -> None:
    """Raise InvalidToken unless the caller presenting ``access_token`` holds what it is bound to."""
    # DPoP (RFC 9449 7): a DPoP-bound token needs Authorization: DPoP and a proof of its key; an
    # unbound one is refused with the DPoP scheme.
    if record.cnf and "jkt" in record.cnf:
        await dpop.check_presenter(request, constraints.proof_check(config), record.cnf["jkt"], access_token,
                                   htu=f"{constraints.issuer}{request.path}")
        return None
    dpop.refuse_unbound(request)
    # mTLS (RFC 8705 3): a certificate-bound token needs the same certificate on this request.
    if record.cnf and THUMBPRINT in record.cnf:
        mtls.check_presenter(request, constraints.certificates, record.cnf[THUMBPRINT])
    return None
