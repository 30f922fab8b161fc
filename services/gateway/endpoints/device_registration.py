"""POST /bc-deviceRegistration: the operator's authenticator app registers the push token of
the user's authentication device, so notification plugins (fcm, apns) can reach it.

Form parameters as the reference server names them: ``id_token_hint`` (an unexpired id_token
this server issued to the calling client; its ``sub`` is the user) and
``device_registration_token`` (the push token). Whoever registers a device receives every
later sign-in link of that user, so:

- the client authenticates with its registered method, exactly as at /bc-authorize
  (401 invalid_client);
- only clients listed in the server property backchannelDeviceRegistrationClients may
  register devices (403 unauthorized_client; the default, [], allows none);
- the id_token_hint must have been issued to that same client (invalid_request), so an id_token
  some other relying party holds for the user is worth nothing here.

Answers 200 ``{"device_registration_id": ...}``; a user may register several devices (the
oldest beyond backchannelMaxDevicesPerUser are dropped), and registering the same token again
is idempotent. A blank token is invalid_request; a hint that names no user is
unknown_user_id. Gated by the ciba feature flag like /bc-authorize.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from aiohttp import web

from services.gateway import client_auth, context, jwt_checks
from services.gateway.context import check_feature_enabled, gateway
from services.gateway.forms import read_form
from services.gateway.middleware import NO_STORE
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.errors import Errors, InvalidRequest, UnauthorizedClient, UnknownUserId
from shared.jose.keys import SUPPORTED_SIGNING_ALGS, KeyRing
from shared.logging import get_logger
from shared.repositories.clients import Client

PATH = "/bc-deviceRegistration"
# What it answers besides the middleware's, as /openapi.json documents it.
ERRORS: Errors = (*context.ERRORS, *client_auth.ERRORS, UnauthorizedClient.at(403), InvalidRequest, UnknownUserId)
MAX_TOKEN_LENGTH = 4096
log = get_logger("ciba.gateway")


class Devices(Protocol):
    """Users and their devices (services.gateway.stores.devices.PostgresDevices)."""

    async def user_exists(self, sub: str) -> bool: ...

    async def register(self, sub: str, token_hash: bytes, token_enc: str, now: datetime, *, keep: int) -> UUID: ...


def check_client_may_register_devices(client: Client, config: ServerConfig) -> None:
    if client.client_id not in config.backchannelDeviceRegistrationClients:
        raise UnauthorizedClient("this client may not register authentication devices", status=403)


def _subject(keyring: KeyRing, issuer: str, config: ServerConfig, client: Client, id_token: str,
             now: datetime) -> str:
    """The sub of an unexpired id_token this server issued to ``client``. Access tokens
    (typ at+jwt) are refused: they are handed to resource servers."""
    try:
        if jwt_checks.peek(id_token).header.get("typ", "JWT") != "JWT":
            raise jwt_checks.JwtRejected("it is not an id_token")
        claims = jwt_checks.verify(id_token, keyring.verify_set, list(SUPPORTED_SIGNING_ALGS))
        if claims.get("iss") != issuer:
            raise jwt_checks.JwtRejected("it was not issued by this server")
        jwt_checks.check_lifetime(claims, now, max_lifetime=config.idTokenLifetime)
        if claims.get("aud") != client.client_id:
            raise jwt_checks.JwtRejected("it was issued to another client")
        return jwt_checks.require_string(claims, "sub")
    except jwt_checks.JwtRejected as exc:
        raise InvalidRequest(f"id_token_hint: {exc}") from None


def _push_token(value: str | None) -> str:
    token = (value or "").strip()
    if not token:
        raise InvalidRequest("device_registration_token is required")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidRequest(f"device_registration_token must not exceed {MAX_TOKEN_LENGTH} characters")
    return token


async def record_device(devices: Devices, secrets: Secrets, config: ServerConfig, sub: str, token: str,
                        now: datetime) -> UUID:
    """Store the push token (hashed to find it again, encrypted to use it) for the user ``sub``."""
    if not await devices.user_exists(sub):
        raise UnknownUserId("the id_token_hint names no user")
    return await devices.register(sub, secrets.hash(token), secrets.encrypt(token), now,
                                  keep=config.backchannelMaxDevicesPerUser)


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    config = gw.rt.config
    check_feature_enabled(config)
    form = await read_form(request)
    client = await gw.client_auth.authenticate(request, form, config)
    check_client_may_register_devices(client, config)
    id_token = form.require("id_token_hint")
    token = _push_token(form.get("device_registration_token"))
    now = gw.rt.clock.now()
    sub = _subject(gw.keyring, gw.issuer, config, client, id_token, now)
    device_id = await record_device(gw.devices, gw.rt.secrets, config, sub, token, now)
    log.info("device_registered", device_id=str(device_id), client_id=client.client_id)
    return web.json_response({"device_registration_id": str(device_id)}, headers=NO_STORE)
