"""The gateway's aiohttp application: every route in one table."""

from __future__ import annotations

from aiohttp import web

from services.gateway.context import GATEWAY, Gateway
from services.gateway.device import account, pages
from services.gateway.endpoints import (
    bc_authorize,
    config_api,
    device_registration,
    discovery,
    health,
    jwks,
    openapi,
    register,
    token,
    userinfo,
)
from services.gateway.middleware import (
    access_log_middleware,
    deadline_middleware,
    errors_middleware,
    security_headers_middleware,
)

# Form and JSON bodies of this protocol are small; anything larger is refused early.
MAX_BODY_BYTES = 64 * 1024


def create_app(gw: Gateway) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[access_log_middleware, security_headers_middleware, errors_middleware, deadline_middleware],
    )
    app[GATEWAY] = gw
    app.router.add_get(discovery.PATH, discovery.handle)
    app.router.add_get(jwks.PATH, jwks.handle)
    app.router.add_post(register.PATH, register.handle)
    app.router.add_post(bc_authorize.PATH, bc_authorize.handle)
    app.router.add_post(token.PATH, token.handle)
    app.router.add_get(userinfo.PATH, userinfo.handle)
    app.router.add_post(userinfo.PATH, userinfo.handle)
    app.router.add_routes(account.routes())
    app.router.add_get("/device/{ref}", pages.show)
    app.router.add_post("/device/{ref}/login", pages.login)
    app.router.add_post("/device/{ref}/decision", pages.decide)
    app.router.add_get("/health/live", health.live)
    app.router.add_get("/health/ready", health.ready)
    app.router.add_get(openapi.PATH, openapi.handle)
    app.router.add_post(device_registration.PATH, device_registration.handle)
    app.router.add_get(config_api.PATH, config_api.get_all)
    app.router.add_get(config_api.PATH + "/{key}", config_api.get_one)
    app.router.add_put(config_api.PATH + "/{key}", config_api.put_one)
    app.router.add_delete(config_api.PATH + "/{key}", config_api.delete_one)
    return app
