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

from aiohttp import web

from services.gateway import jwt_checks
from services.gateway.client_auth import authenticate_client
from services.gateway.context import Gateway, check_feature_enabled, gateway
from services.gateway.forms import read_form
from services.gateway.middleware import NO_STORE
from shared.config.model import ServerConfig
from shared.errors import InvalidRequest, UnauthorizedClient, UnknownUserId
from shared.jose.keys import SUPPORTED_SIGNING_ALGS
from shared.logging import get_logger
from shared.repositories import devices, users
from shared.repositories.clients import Client

PATH = "/bc-deviceRegistration"
MAX_TOKEN_LENGTH = 4096
log = get_logger("ciba.gateway")


def check_client_may_register_devices(client: Client, config: ServerConfig) -> None:
    if client.client_id not in config.backchannelDeviceRegistrationClients:
        raise UnauthorizedClient("this client may not register authentication devices", status=403)


def _subject(gw: Gateway, client: Client, id_token: str) -> str:
    """The sub of an unexpired id_token this server issued to ``client``. Access tokens
    (typ at+jwt) are refused: they are handed to resource servers."""
    try:
        if jwt_checks.peek(id_token).header.get("typ", "JWT") != "JWT":
            raise jwt_checks.JwtRejected("it is not an id_token")
        claims = jwt_checks.verify(id_token, gw.keyring.verify_set, list(SUPPORTED_SIGNING_ALGS))
        if claims.get("iss") != gw.issuer:
            raise jwt_checks.JwtRejected("it was not issued by this server")
        jwt_checks.check_lifetime(claims, gw.rt.clock.now(), max_lifetime=gw.rt.config.idTokenLifetime)
        if claims.get("aud") != client.client_id:
            raise jwt_checks.JwtRejected("it was issued to another client")
        return jwt_checks.require_string(claims, "sub")
    except jwt_checks.JwtRejected as exc:
        raise InvalidRequest(f"id_token_hint: {exc}") from None


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    check_feature_enabled(gw.rt.config)
    form = await read_form(request)
    client = await authenticate_client(request, form, gw)
    check_client_may_register_devices(client, gw.rt.config)
    id_token = form.require("id_token_hint")
    token = (form.get("device_registration_token") or "").strip()
    if not token:
        raise InvalidRequest("device_registration_token is required")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidRequest(f"device_registration_token must not exceed {MAX_TOKEN_LENGTH} characters")
    sub = _subject(gw, client, id_token)
    if await users.get(gw.rt.pool, sub) is None:
        raise UnknownUserId("the id_token_hint names no user")
    device_id = await devices.register(gw.rt.pool, sub, gw.rt.secrets.hash(token), gw.rt.secrets.encrypt(token),
                                       gw.rt.clock.now(), keep=gw.rt.config.backchannelMaxDevicesPerUser)
    log.info("device_registered", device_id=str(device_id), client_id=client.client_id)
    return web.json_response({"device_registration_id": str(device_id)}, headers=NO_STORE)
