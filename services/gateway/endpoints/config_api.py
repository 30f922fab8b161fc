"""The config API: the server properties over HTTP, for operators and their tooling.

    GET    /admin/config          every property (secrets masked)
    GET    /admin/config/{key}    one property
    PUT    /admin/config/{key}    set it (body: the JSON value); validated, secrets sealed
    DELETE /admin/config/{key}    back to the default

Authenticated with ``Authorization: Bearer <CIBA_ADMIN_TOKEN>`` (compared in constant time);
while CIBA_ADMIN_TOKEN is unset the API does not exist (404). Changes reach every service
within 2 seconds, like ``ciba-admin config set``. It is served on the gateway's management
listener (CIBA_MANAGEMENT_HOST:CIBA_MANAGEMENT_PORT, 127.0.0.1:9180 by default), never on the
public port: expose that listener only on an operators' network.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from services.gateway.context import gateway
from services.gateway.middleware import NO_STORE
from shared.config import store
from shared.config.model import ConfigError
from shared.crypto import constant_time_equal
from shared.errors import Errors, InvalidRequest, InvalidToken, NotFound
from shared.logging import get_logger

PATH = "/admin/config"
ERRORS: Errors = (InvalidToken, InvalidRequest, NotFound)  # on the management port, not in /openapi.json

log = get_logger("ciba.admin")


def _authorize(request: web.Request, token: SecretStr | None) -> None:
    """Only the bearer of CIBA_ADMIN_TOKEN; without one the API does not exist."""
    if token is None:
        raise NotFound("no such resource")
    if "Authorization" not in request.headers:
        raise InvalidToken("the config API needs the operator's bearer token", credentials_sent=False)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not constant_time_equal(presented.strip(), token.get_secret_value()):
        raise InvalidToken("the config API needs the operator's bearer token")


def _unknown_property() -> NotFound:
    # The key is never echoed back: it is caller input, and it may hold anything.
    return NotFound("unknown server property")


def _answer(body: Any) -> web.Response:
    return web.json_response(body, headers=NO_STORE)


async def get_all(request: web.Request) -> web.Response:
    gw = gateway(request)
    _authorize(request, gw.rt.settings.admin_token)
    return _answer(await store.masked(gw.rt.pool, gw.rt.settings.env, gw.rt.secrets))


async def get_one(request: web.Request) -> web.Response:
    gw = gateway(request)
    _authorize(request, gw.rt.settings.admin_token)
    key = request.match_info["key"]
    effective = await store.masked(gw.rt.pool, gw.rt.settings.env, gw.rt.secrets)
    if key not in effective:
        raise _unknown_property()
    return _answer({key: effective[key]})


async def put_one(request: web.Request) -> web.Response:
    gw = gateway(request)
    _authorize(request, gw.rt.settings.admin_token)
    key = request.match_info["key"]
    if request.content_type != "application/json":
        raise InvalidRequest("the body must be the property's value as application/json")
    try:
        value = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidRequest("the body is not valid JSON") from None
    async with gw.rt.pool.acquire() as conn:
        try:
            stored = await store.set_property(conn, gw.rt.settings.env, gw.rt.secrets, key, value)
        except store.UnknownProperty:
            raise _unknown_property() from None
        except ConfigError as exc:
            raise InvalidRequest(str(exc)) from None
    log.info("config_changed", key=key, via="config_api")
    return _answer({key: stored})


async def delete_one(request: web.Request) -> web.Response:
    gw = gateway(request)
    _authorize(request, gw.rt.settings.admin_token)
    key = request.match_info["key"]
    async with gw.rt.pool.acquire() as conn:
        try:
            value = await store.unset_property(conn, gw.rt.settings.env, gw.rt.secrets, key)
        except store.UnknownProperty:
            raise _unknown_property() from None
    log.info("config_reset", key=key, via="config_api")
    return _answer({key: value})
