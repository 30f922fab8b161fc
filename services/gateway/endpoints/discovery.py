"""GET /.well-known/openid-configuration (OpenID Connect Discovery 1.0, CIBA Core 4).

It publishes what is enforced. With the ciba feature flag off every backchannel_* key is
left out, and it comes back when the flag is turned on, without a restart.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.gateway import mtls
from services.gateway.acr import ACR_VALUES_SUPPORTED
from services.gateway.context import gateway
from services.gateway.device import locale
from services.gateway.dpop import DPOP_ALGS
from shared.config.model import ServerConfig
from shared.domain import fapi_ciba
from shared.domain.claims import CLAIMS_SUPPORTED, SCOPES_SUPPORTED
from shared.domain.client_metadata import ASYMMETRIC_ALGS, HMAC_ALGS, MTLS_AUTH_METHODS, SUPPORTED_AUTH_METHODS
from shared.domain.grant_types import SUPPORTED_GRANT_TYPES
from shared.jose.keys import SUPPORTED_SIGNING_ALGS
from shared.settings import Settings

PATH = "/.well-known/openid-configuration"
# RFC 8414 3: the same document, for OAuth clients that do not speak OpenID Connect.
OAUTH_PATH = "/.well-known/oauth-authorization-server"
# There is no authorization endpoint, so no response type is truly supported. OIDC Discovery
# and RFC 8414 both require the member, and validators (authlib's) refuse it empty; RFC 8414
# errata 7793 would omit it. "none" (OAuth 2.0 Multiple Response Type Encoding Practices 4)
# is the one value that promises nothing: no authorization response ever carries a code or a
# token. Registration accepts it as the same as [].
RESPONSE_TYPES_SUPPORTED = ["none"]
AUTH_METHODS_KEYS = ("token_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported",
                     "revocation_endpoint_auth_methods_supported")


def metadata(issuer: str, config: ServerConfig, settings: Settings | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "registration_endpoint": f"{issuer}/register",
        "scopes_supported": list(SCOPES_SUPPORTED),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "response_types_supported": RESPONSE_TYPES_SUPPORTED,
        "grant_types_supported": list(SUPPORTED_GRANT_TYPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(SUPPORTED_SIGNING_ALGS),
        "token_endpoint_auth_methods_supported": list(SUPPORTED_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": [*ASYMMETRIC_ALGS, *HMAC_ALGS],
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "introspection_endpoint_auth_methods_supported": list(SUPPORTED_AUTH_METHODS),
        "introspection_endpoint_auth_signing_alg_values_supported": [*ASYMMETRIC_ALGS, *HMAC_ALGS],
        "revocation_endpoint_auth_methods_supported": list(SUPPORTED_AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": [*ASYMMETRIC_ALGS, *HMAC_ALGS],
        # RFC 9449 5.1: the algorithms of the DPoP proofs /token and /userinfo accept.
        "dpop_signing_alg_values_supported": list(DPOP_ALGS),
        "acr_values_supported": list(ACR_VALUES_SUPPORTED),
        "claims_parameter_supported": False,
        # The device pages' languages: chosen by ui_locales on /bc-authorize, then Accept-Language.
        "ui_locales_supported": list(locale.SUPPORTED),
    }
    if config.authorizationDetailsTypesSupported:  # RFC 9396 10: what authorization_details may name
        doc["authorization_details_types_supported"] = list(config.authorizationDetailsTypesSupported)
    if not config.dynamicRegistrationEnabled:
        del doc["registration_endpoint"]
    if config.ciba_enabled:
        doc.update({
            "backchannel_authentication_endpoint":
                config.backchannelAuthenticationEndpoint or f"{issuer}/bc-authorize",
            "backchannel_token_delivery_modes_supported":
                list(config.backchannelTokenDeliveryModesSupported),
            "backchannel_authentication_request_signing_alg_values_supported":
                list(config.backchannelAuthenticationRequestSigningAlgValuesSupported),
            "backchannel_user_code_parameter_supported":
                config.backchannelUserCodeParameterSupported,
            "backchannel_device_registration_endpoint":
                config.backchannelDeviceRegistrationEndpoint or f"{issuer}/bc-deviceRegistration",
        })
    else:
        doc["grant_types_supported"] = ["refresh_token"]
    # Mutual TLS (RFC 8705) only while client certificates can reach us (services/gateway/mtls.py).
    if settings is not None and settings.mtls_enabled:
        doc.update(mtls.discovery_metadata(settings, doc))
    else:
        for key in AUTH_METHODS_KEYS:
            doc[key] = [method for method in doc[key] if method not in MTLS_AUTH_METHODS]
    if config.fapiCibaProfile:
        fapi_ciba.narrow_discovery(doc)
    return doc


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    return web.json_response(metadata(gw.issuer, gw.rt.config, gw.rt.settings),
                             headers={"Cache-Control": "public, max-age=60"})
