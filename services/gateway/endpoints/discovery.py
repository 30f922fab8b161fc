"""GET /.well-known/openid-configuration (OpenID Connect Discovery 1.0, CIBA Core 4).

It publishes what is enforced. With the ciba feature flag off every backchannel_* key is
left out, and it comes back when the flag is turned on, without a restart.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.gateway.context import gateway
from services.gateway.device import locale
from shared.config.model import ServerConfig
from shared.domain.acr import ACR_VALUES_SUPPORTED
from shared.domain.claims import CLAIMS_SUPPORTED, SCOPES_SUPPORTED
from shared.domain.client_metadata import ASYMMETRIC_ALGS, HMAC_ALGS, SUPPORTED_AUTH_METHODS
from shared.jose.keys import SUPPORTED_SIGNING_ALGS
from shared.repositories.clients import CIBA_GRANT

PATH = "/.well-known/openid-configuration"
# RFC 8414 3: the same document, for OAuth clients that do not speak OpenID Connect.
OAUTH_PATH = "/.well-known/oauth-authorization-server"
# There is no authorization endpoint, so no response type is truly supported. OIDC Discovery
# and RFC 8414 both require the member, and validators (authlib's) refuse it empty; RFC 8414
# errata 7793 would omit it. "none" (OAuth 2.0 Multiple Response Type Encoding Practices 4)
# is the one value that promises nothing: no authorization response ever carries a code or a
# token. Registration accepts it as the same as [].
RESPONSE_TYPES_SUPPORTED = ["none"]


def metadata(issuer: str, config: ServerConfig) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "registration_endpoint": f"{issuer}/register",
        "scopes_supported": list(SCOPES_SUPPORTED),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "response_types_supported": RESPONSE_TYPES_SUPPORTED,
        "grant_types_supported": [CIBA_GRANT, "refresh_token"],
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
        "acr_values_supported": list(ACR_VALUES_SUPPORTED),
        "claims_parameter_supported": False,
        # The device pages' languages: chosen by ui_locales on /bc-authorize, then Accept-Language.
        "ui_locales_supported": list(locale.SUPPORTED),
    }
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
    return doc


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    return web.json_response(metadata(gw.issuer, gw.rt.config),
                             headers={"Cache-Control": "public, max-age=60"})
