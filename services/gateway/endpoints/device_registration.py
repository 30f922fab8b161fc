"""POST /bc-deviceRegistration: a mobile app registers the push token of the user's
authentication device, so notification plugins (fcm) can reach it.

Form parameters as the reference server names them: ``id_token_hint`` (an unexpired id_token
this server issued; its ``sub`` is the user) and ``device_registration_token`` (the push
token). Answers 200 ``{"device_registration_id": ...}``; a user may register several devices
(the oldest beyond backchannelMaxDevicesPerUser are dropped), and registering the same token
again is idempotent. A blank token is invalid_request; a hint
that names no user is unknown_user_id. Gated by the ciba feature flag like /bc-authorize.
"""

from __future__ import annotations

from aiohttp import web

from services.gateway.context import Gateway, check_feature_enabled, gateway
from services.gateway.forms import read_form
from services.gateway.middleware import NO_STORE
from shared.errors import InvalidRequest, UnknownUserId
from shared.jose import jwt_checks
from shared.jose.keys import SUPPORTED_SIGNING_ALGS
from shared.logging import get_logger
from shared.repositories import devices, users

PATH = "/bc-deviceRegistration"
MAX_TOKEN_LENGTH = 4096
log = get_logger("ciba.gateway")


async def _subject(gw: Gateway, id_token: str) -> str:
    """The sub of an unexpired id_token this server issued to a registered client. Access
    tokens (typ at+jwt) are refused: a resource server that once saw one must not be able to
    route the user's sign-in links to a device of its own."""
    try:
        if jwt_checks.peek(id_token).header.get("typ", "JWT") != "JWT":
            raise jwt_checks.JwtRejected("it is not an id_token")
        claims = jwt_checks.verify(id_token, gw.keyring.verify_set, list(SUPPORTED_SIGNING_ALGS))
        if claims.get("iss") != gw.issuer:
            raise jwt_checks.JwtRejected("it was not issued by this server")
        jwt_checks.check_lifetime(claims, gw.rt.clock.now(), max_lifetime=gw.rt.config.idTokenLifetime)
        audience = claims.get("aud")
        if not isinstance(audience, str) or await gw.clients.get(audience) is None:
            raise jwt_checks.JwtRejected("it was not issued to a registered client")
        return jwt_checks.require_string(claims, "sub")
    except jwt_checks.JwtRejected as exc:
        raise InvalidRequest(f"id_token_hint: {exc}") from None


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    check_feature_enabled(gw.rt.config)
    form = await read_form(request)
    id_token = form.require("id_token_hint")
    token = (form.get("device_registration_token") or "").strip()
    if not token:
        raise InvalidRequest("device_registration_token is required")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidRequest(f"device_registration_token must not exceed {MAX_TOKEN_LENGTH} characters")
    sub = await _subject(gw, id_token)
    if await users.get(gw.rt.pool, sub) is None:
        raise UnknownUserId("the id_token_hint names no user")
    device_id = await devices.register(gw.rt.pool, sub, gw.rt.secrets.hash(token), gw.rt.secrets.encrypt(token),
                                       gw.rt.clock.now(), keep=gw.rt.config.backchannelMaxDevicesPerUser)
    log.info("device_registered", device_id=str(device_id))
    return web.json_response({"device_registration_id": str(device_id)}, headers=NO_STORE)
