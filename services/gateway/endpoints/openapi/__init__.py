"""GET /openapi.json: an OpenAPI 3.1 description of the gateway's public API.

It covers the endpoints a relying party or an orchestrator calls (discovery, JWKS,
registration, the backchannel authentication and token endpoints, userinfo, health), with
their parameters, bodies, success responses and the protocol errors each can answer with.
The device pages are HTML for people and are left out. ``servers`` is the issuer.

Nothing in it is a copy to keep in step by hand: each operation's error responses come from
its endpoint module's ERRORS (responses.py), which tests/unit/test_openapi_errors.py checks
against what the code raises; the Error and ClientMetadata schemas come from the pydantic
models the server validates with (schemas.py); the other bodies are described where no model
exists (bodies.py). A test checks that every route of services/gateway/app.py appears here.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

from services.gateway.context import gateway
from services.gateway.endpoints.openapi.bodies import bodies
from services.gateway.endpoints.openapi.paths import paths
from services.gateway.endpoints.openapi.responses import JSON, headers
from services.gateway.endpoints.openapi.schemas import model_schemas

PATH = "/openapi.json"
OPENAPI_VERSION = "3.1.0"


def _security_schemes() -> dict[str, Any]:
    return {
        "clientBasic": {"type": "http", "scheme": "basic",
                        "description": "client_secret_basic: client_id and client_secret, each form-urlencoded "
                                       "(RFC 6749 2.3.1). Other methods use the form fields client_id, "
                                       "client_secret, client_assertion; tls_client_auth and "
                                       "self_signed_tls_client_auth the form field client_id and the TLS client "
                                       "certificate (RFC 8705)."},
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "An access token from /token (RFC 6750)."},
        "dpop": {"type": "http", "scheme": "dpop",
                 "description": "A DPoP-bound access token (Authorization: DPoP), with a DPoP proof in the DPoP "
                                "header (RFC 9449 7)."},
        "registration": {"type": "http", "scheme": "bearer",
                         "description": "The registration_access_token /register answered (RFC 7592)."},
    }


def document(issuer: str) -> dict[str, Any]:
    """The OpenAPI document of the gateway whose issuer (and base URL) is ``issuer``."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "CIBA authorization server",
            "version": "1",
            "description": "OpenID Connect Client Initiated Backchannel Authentication (CIBA Core 1.0). "
                           "Errors are JSON objects with error and error_description.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": issuer}],
        "tags": [{"name": "oidc"}, {"name": "ciba"}, {"name": "health"}],
        "paths": paths(),
        "components": {
            "schemas": {**model_schemas(), **bodies()},
            "headers": headers(),
            "securitySchemes": _security_schemes(),
        },
    }


@functools.cache
def _served(issuer: str) -> str:
    """The document as served: it changes only with the code."""
    return json.dumps(document(issuer))


async def handle(request: web.Request) -> web.Response:
    return web.Response(text=_served(gateway(request).issuer), content_type=JSON,
                        headers={"Cache-Control": "public, max-age=300"})
