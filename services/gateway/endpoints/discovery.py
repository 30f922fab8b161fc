"""GET /.well-known/openid-configuration (OpenID Connect Discovery 1.0, CIBA Core 4).

It publishes what is enforced. With the ciba feature flag off every backchannel_* key is
left out, and it comes back when the flag is turned on, without a restart.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.gateway.client_auth import ASYMMETRIC_ALGS, HMAC_ALGS, SUPPORTED_AUTH_METHODS
from services.gateway.context import gateway
from shared.config.model import ServerConfig
from shared.domain.acr import ACR_VALUES_SUPPORTED
from shared.domain.claims import CLAIMS_SUPPORTED, SCOPES_SUPPORTED
from shared.jose.keys import SUPPORTED_SIGNING_ALGS
from shared.repositories.clients import CIBA_GRANT

PATH = "/.well-known/openid-configuration"


def metadata(issuer: str, config: ServerConfig) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "registration_endpoint": f"{issuer}/register",
        "scopes_supported": list(SCOPES_SUPPORTED),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "response_types_supported": [],
        "grant_types_supported": [CIBA_GRANT, "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(SUPPORTED_SIGNING_ALGS),
        "token_endpoint_auth_methods_supported": list(SUPPORTED_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": [*ASYMMETRIC_ALGS, *HMAC_ALGS],
        "acr_values_supported": list(ACR_VALUES_SUPPORTED),
        "claims_parameter_supported": False,
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
