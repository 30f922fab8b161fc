"""Signed authentication requests (CIBA Core 7.1.1, FAPI-CIBA 5.2.2).

The ``request`` parameter is a JWS carrying every authentication request parameter. It is
verified with the client's keys (jwks or jwks_uri), with exactly the client's registered
backchannel_authentication_request_signing_alg when it has one, and only with algorithms in
backchannelAuthenticationRequestSigningAlgValuesSupported (never ``none``). It must have
iss = client_id, aud = the issuer, exp, iat and nbf, live at most 60 minutes, and a jti used
once. Authentication request parameters sent beside it are refused.

Its jti shares one space with the client's assertions (shared.repositories.jtis), and a JWT
typed as a client assertion is refused here, so neither can be replayed as the other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.gateway import jwt_checks
from services.gateway.client_auth import AUTH_REQUEST_PARAMETERS, UsedJtis
from services.gateway.client_keys import KeySource, verify_signed_by_client
from services.gateway.forms import Form
from shared.config.model import ServerConfig
from shared.domain import fapi_ciba
from shared.errors import Errors, InvalidRequest
from shared.repositories.clients import Client

MAX_LIFETIME_SEC = 3600
ERRORS: Errors = (InvalidRequest,)
# draft-ietf-oauth-rfc7523bis: the typ of a client assertion, never a request object's.
ASSERTION_TYP = "client-authentication+jwt"


def allowed_algorithms(config: ServerConfig, client: Client) -> list[str]:
    supported = fapi_ciba.algorithms(config.backchannelAuthenticationRequestSigningAlgValuesSupported, config, client)
    registered = client.backchannel_authentication_request_signing_alg
    if registered is not None:
        return [registered] if registered in supported else []
    return supported


async def read_parameters(client: Client, form: Form, *, client_keys: KeySource, jtis: UsedJtis, issuer: str,
                          config: ServerConfig, now: datetime) -> Form:
    """The authentication request parameters: from the signed request when the client sent
    one (or must send one), else from the form."""
    token = form.get("request")
    if "request_uri" in form:
        raise InvalidRequest("request_uri is not supported; send the signed request as request")
    if token is None:
        if client.backchannel_authentication_request_signing_alg is not None:
            raise InvalidRequest("this client must send a signed authentication request (request)")
        return form
    beside = form.present(AUTH_REQUEST_PARAMETERS)
    if beside:
        raise InvalidRequest(f"{', '.join(beside)} must be inside the signed request, not beside it")
    try:
        claims = await _verified_claims(client, token, client_keys=client_keys, jtis=jtis, issuer=issuer,
                                        config=config, now=now)
    except jwt_checks.JwtRejected as exc:
        raise InvalidRequest(f"request: {exc}") from None
    return Form.from_claims(claims, AUTH_REQUEST_PARAMETERS)


async def _verified_claims(client: Client, token: str, *, client_keys: KeySource, jtis: UsedJtis, issuer: str,
                           config: ServerConfig, now: datetime) -> dict[str, Any]:
    if str(jwt_checks.peek(token).header.get("typ", "")).lower() == ASSERTION_TYP:
        raise jwt_checks.JwtRejected("a client assertion is not a signed authentication request")
    algorithms = allowed_algorithms(config, client)
    if not algorithms:
        raise jwt_checks.JwtRejected("the client's signing alg is no longer accepted by this server")
    claims = await verify_signed_by_client(client_keys, client, token, algorithms)
    if claims.get("iss") != client.client_id:
        raise jwt_checks.JwtRejected("iss must be the client_id")
    jwt_checks.check_audience(claims, {issuer})
    lifetime = jwt_checks.check_lifetime(claims, now, max_lifetime=MAX_LIFETIME_SEC,
                                         require_iat=True, require_nbf=True)
    jti = jwt_checks.require_string(claims, "jti")
    expires = datetime.fromtimestamp(lifetime.exp + jwt_checks.LEEWAY_SEC, UTC)
    if not await jtis.use(client.client_id, "request_object", jti, expires):
        raise jwt_checks.JwtRejected("this jti was already used")
    return claims
