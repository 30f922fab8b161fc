"""The gateway's aiohttp application: every protocol route in one table, and the device pages' sub-application."""

from __future__ import annotations

from aiohttp import web

from services.gateway import dpop
from services.gateway.context import GATEWAY, Gateway
from services.gateway.device import PREFIX
from services.gateway.device.app import create_pages_app
from services.gateway.endpoints import (
    bc_authorize,
    client_configuration,
    config_api,
    device_registration,
    discovery,
    health,
    introspection,
    jwks,
    openapi,
    register,
    revocation,
    token,
    userinfo,
)
from services.gateway.middleware import (
    access_log_middleware,
    deadline_middleware,
    errors_middleware,
    security_headers_middleware,
    tracing_middleware,
)
from shared import tracing

# Form and JSON bodies of this protocol are small; anything larger is refused early.
MAX_BODY_BYTES = 64 * 1024


async def _close_when_stopping(request: web.Request, response: web.StreamResponse) -> None:
    if request.app[GATEWAY].stopping:
        response.force_close()


def create_app(gw: Gateway) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[access_log_middleware, *([tracing_middleware] if tracing.enabled() else []),
                     security_headers_middleware, errors_middleware, deadline_middleware],
    )
    app[GATEWAY] = gw
    app.on_response_prepare.append(_close_when_stopping)
    app.on_response_prepare.append(dpop.add_nonce_header)  # DPoP-Nonce, while nonces are required
    app.router.add_get(discovery.PATH, discovery.handle)
    app.router.add_get(discovery.OAUTH_PATH, discovery.handle)
    app.router.add_get(jwks.PATH, jwks.handle)
    app.router.add_post(register.PATH, register.handle)
    app.router.add_get(client_configuration.PATH, client_configuration.read)
    app.router.add_put(client_configuration.PATH, client_configuration.replace)
    app.router.add_delete(client_configuration.PATH, client_configuration.delete)
    app.router.add_post(bc_authorize.PATH, bc_authorize.handle)
    app.router.add_post(token.PATH, token.handle)
    app.router.add_post(revocation.PATH, revocation.handle)
    app.router.add_post(introspection.PATH, introspection.handle)
    app.router.add_get(userinfo.PATH, userinfo.handle)
    app.router.add_post(userinfo.PATH, userinfo.handle)
    app.router.add_get("/health/live", health.live)
    app.router.add_get("/health/ready", health.ready)
    app.router.add_get(openapi.PATH, openapi.handle)
    app.router.add_post(device_registration.PATH, device_registration.handle)
    pages = create_pages_app()
    pages[GATEWAY] = gw
    app.add_subapp(PREFIX, pages)
    return app


def add_management_routes(app: web.Application, gw: Gateway) -> None:
    """The gateway's part of its management listener: the config API, off the public port."""
    app[GATEWAY] = gw
    app.middlewares.append(errors_middleware)
    app.router.add_get(config_api.PATH, config_api.get_all)
    app.router.add_get(config_api.PATH + "/{key}", config_api.get_one)
    app.router.add_put(config_api.PATH + "/{key}", config_api.put_one)
    app.router.add_delete(config_api.PATH + "/{key}", config_api.delete_one)
