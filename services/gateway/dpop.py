"""DPoP (RFC 9449): access tokens bound to a key the client proves it holds, request by request.

A client sends a DPoP proof, a JWT it signs with its key (the public key rides in the JWT's
``jwk`` header), in a ``DPoP`` header. At /token (:func:`binding_at_token`) a valid proof binds
the new access token to that key: ``cnf.jkt`` is the key's RFC 7638 thumbprint and the token
type is DPoP. At /userinfo (:func:`check_presenter`) a DPoP-bound token must come as
``Authorization: DPoP <token>`` with a proof of the same key that also carries ``ath``, the
hash of the token; a DPoP-bound token presented as a Bearer token is refused (RFC 9449 7.2).

Exactly one DPoP header is read; the proof in it is checked in services/gateway/dpop_proof.py.
With the server property dpopNonceRequired (RFC 9449 8 and 9), a proof must also carry a nonce
the server handed out in a ``DPoP-Nonce`` header (services/gateway/dpop_nonce.py).
"""

from __future__ import annotations

from aiohttp import web

from services.gateway import dpop_proof
from services.gateway.dpop_nonce import NONCE_WINDOW_SEC, add_nonce_header, offer_nonce
from services.gateway.dpop_proof import ALGS, DPOP_ALGS, ProofCheck, normalise_uri, refused, verify_proof
from shared.domain.token_issuance import Binding
from shared.errors import Errors, InvalidDpopProof, InvalidDpopToken
from shared.repositories.clients import Client

ERRORS: Errors = dpop_proof.ERRORS  # its own refusals are the proof's too

# What the rest of the gateway, and the tests, know DPoP by.
__all__ = ["ALGS", "DPOP_ALGS", "HEADER", "NONCE_WINDOW_SEC", "TOKEN_TYPE", "add_nonce_header", "authorization_scheme",
           "binding_at_token", "check_presenter", "normalise_uri", "refuse_unbound", "requires_dpop"]

HEADER = "DPoP"
TOKEN_TYPE = "DPoP"


def _single_header(request: web.Request, resource: bool) -> str | None:
    values = request.headers.getall(HEADER, [])
    if not values:
        return None
    if len(values) > 1:
        raise refused("send exactly one DPoP header", resource)
    return values[0]


def _offer_nonce(request: web.Request, check: ProofCheck) -> None:
    offer_nonce(request, check.config, check.secrets, check.now)


def requires_dpop(client: Client) -> bool:
    """RFC 9449 5.2: the client registered dpop_bound_access_tokens: true."""
    return client.metadata.get("dpop_bound_access_tokens") is True


async def binding_at_token(request: web.Request, check: ProofCheck, client: Client, *, htu: str) -> Binding | None:
    """The DPoP binding of the tokens this /token request mints: None without a DPoP header
    (refused for a client that registered dpop_bound_access_tokens)."""
    proof = _single_header(request, resource=False)
    if proof is None and not requires_dpop(client):
        return None
    _offer_nonce(request, check)
    if proof is None:
        raise InvalidDpopProof("this client registered dpop_bound_access_tokens: send a DPoP proof")
    checked = await verify_proof(request, proof, check, htu=htu, resource=False)
    return Binding(cnf={"jkt": checked.jkt}, token_type=TOKEN_TYPE)


def authorization_scheme(request: web.Request) -> str:
    return request.headers.get("Authorization", "").partition(" ")[0].lower()


async def check_presenter(request: web.Request, check: ProofCheck, jkt: str, access_token: str, *, htu: str) -> None:
    """A DPoP-bound access token at a resource: ``Authorization: DPoP`` and a proof of the key
    ``jkt`` names, for this request and this token (RFC 9449 7.1)."""
    _offer_nonce(request, check)
    if authorization_scheme(request) != "dpop":
        raise InvalidDpopToken("the access token is DPoP-bound: send it as Authorization: DPoP, with a proof",
                               resource_algs=ALGS)
    proof = _single_header(request, resource=True)
    if proof is None:
        raise refused("a DPoP-bound access token needs a DPoP proof", resource=True)
    await verify_proof(request, proof, check, htu=htu, resource=True, access_token=access_token, jkt=jkt)


def refuse_unbound(request: web.Request) -> None:
    """An access token that is not DPoP-bound, presented with the DPoP scheme."""
    if authorization_scheme(request) == "dpop":
        raise InvalidDpopToken("the access token is not DPoP-bound: send it as a Bearer token", resource_algs=ALGS)
