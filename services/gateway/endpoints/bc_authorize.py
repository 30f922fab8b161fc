"""POST /bc-authorize: the Backchannel Authentication Endpoint (CIBA Core 7).

Read top to bottom, as the spec orders it: the feature flag, the form, client
authentication (7.1), the per-client rate limit, the client's right to use CIBA, the
parameters (from the signed request when there is one, 7.1.1), the user named by the hint
(7.1), the user_code, then one transaction that stores the request with its history and its
AuthRequestCreated event (and enforces the per-user cap), and the response (7.3). Errors are
those of section 13.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import uuid4

from aiohttp import web

from services.gateway import client_auth, context, hints, request_object
from services.gateway.acr import ACR_VALUES_SUPPORTED
from services.gateway.context import check_feature_enabled, gateway
from services.gateway.device import locale
from services.gateway.forms import Form, read_form
from services.gateway.middleware import NO_STORE
from shared import metrics, tracing
from shared.config.model import ServerConfig
from shared.crypto import new_token
from shared.domain import authorization_details, fapi_ciba, lifecycle, user_code
from shared.domain.auth_request import AuthRequest, DeliveryMode, Status
from shared.domain.authorization_details import registered_types, validate
from shared.errors import (
    Errors,
    InvalidBindingMessage,
    InvalidRequest,
    InvalidScope,
    InvalidUserCode,
    MissingUserCode,
    SlowDown,
    UnauthorizedClient,
)
from shared.logging import bind_request, get_logger
from shared.repositories.clients import Client
from shared.repositories.users import User

PATH = "/bc-authorize"
# What it answers besides the middleware's (CIBA Core 13), as /openapi.json documents it.
ERRORS: Errors = (*context.ERRORS, *client_auth.ERRORS, *request_object.ERRORS, *hints.ERRORS,
                  *authorization_details.ERRORS, UnauthorizedClient, InvalidScope, InvalidBindingMessage,
                  InvalidRequest, MissingUserCode, InvalidUserCode, SlowDown.at(429))
MAX_NOTIFICATION_TOKEN_LENGTH = 1024
_POSITIVE_INTEGER = re.compile(r"^[1-9][0-9]{0,8}$")

log = get_logger("ciba.gateway")


class ClientRateLimiter(Protocol):
    """services.gateway.rate_limit.RateLimiter."""

    def acquire(self, key: str, rate: float) -> int | None: ...


class UserCodeAttempts(Protocol):
    """The user_code guesses counted per user (shared.domain.attempts_limit.USER_CODE)."""

    async def allow(self, subject: str, now: datetime) -> bool: ...

    async def succeeded(self, subject: str) -> None: ...


class CodeChecks(Protocol):
    """The bounded pool of hash checks (services.gateway.password_checks.PasswordChecks)."""

    def ensure_capacity(self) -> None: ...

    async def verify(self, stored_hash: str | None, secret: str) -> bool: ...


class NewRequests(Protocol):
    async def add(self, request: AuthRequest, *, max_pending_per_user: int) -> None:
        """Store the request with its history and its event, in one transaction; with a cap
        above 0, raise lifecycle.TooManyPending when the user already has that many pending."""


def check_rate_limit(limiter: ClientRateLimiter, client: Client, config: ServerConfig) -> None:
    wait = limiter.acquire(client.client_id, config.backchannelRateLimitPerClient)
    if wait is not None:
        metrics.RATE_LIMITED.labels("bc_authorize_per_client").inc()
        raise SlowDown("too many authentication requests from this client", status=429, retry_after=wait)


def check_client_may_use_ciba(client: Client, config: ServerConfig) -> DeliveryMode:
    mode = client.backchannel_token_delivery_mode
    if not client.uses_ciba or mode is None:
        raise UnauthorizedClient("the client is not registered for the CIBA grant")
    if mode not in config.backchannelTokenDeliveryModesSupported:
        raise UnauthorizedClient(f"token delivery mode {mode} is not enabled on this server")
    return mode


def check_scope(params: Form, client: Client) -> list[str]:
    scopes = list(dict.fromkeys((params.get("scope") or "").split()))
    if "openid" not in scopes:
        raise InvalidScope("scope must include openid")
    outside = [s for s in scopes if s not in client.scope]
    if outside:
        raise InvalidScope(f"scope not allowed for this client: {' '.join(outside)}")
    return scopes


def check_binding_message(params: Form, config: ServerConfig) -> str | None:
    """The length first: the operator's pattern may be permissive, and a long input is what
    makes a regular expression slow."""
    message = params.get("binding_message")
    if message is None:
        return None
    if len(message) > config.backchannelBindingMessageMaxLength:
        raise InvalidBindingMessage(
            f"binding_message must not exceed {config.backchannelBindingMessageMaxLength} characters")
    if not re.fullmatch(config.backchannelBindingMessagePattern, message):
        raise InvalidBindingMessage("binding_message is too long or contains characters that are not allowed")
    return message


def check_requested_expiry(params: Form, config: ServerConfig) -> int:
    raw = params.get("requested_expiry")
    if raw is None:
        return config.backchannelAuthenticationResponseExpiresIn
    if not _POSITIVE_INTEGER.match(raw):
        raise InvalidRequest("requested_expiry must be a positive integer")
    value = int(raw)
    if value > config.cibaMaxExpirationTimeAllowedSec:
        raise InvalidRequest(f"requested_expiry must not exceed {config.cibaMaxExpirationTimeAllowedSec}")
    return value


def check_acr_values(params: Form) -> list[str] | None:
    raw = params.get("acr_values")
    if raw is None:
        return None
    values = raw.split()
    if not any(v in ACR_VALUES_SUPPORTED for v in values):
        supported = " ".join(ACR_VALUES_SUPPORTED)
        raise InvalidRequest(f"none of the acr_values is supported; supported: {supported}")
    return values


def check_authorization_details(params: Form, client: Client, config: ServerConfig) -> list[dict[str, Any]] | None:
    """RFC 9396: a JSON array of objects with a type the server supports and the client
    registered (invalid_authorization_details otherwise; see shared.domain.authorization_details)."""
    raw = params.get("authorization_details")
    if raw is None:
        return None
    return validate(raw, supported=config.authorizationDetailsTypesSupported,
                    registered=registered_types(client.metadata))


def check_client_notification_token(params: Form, mode: str) -> str | None:
    token = params.get("client_notification_token")
    if mode in (DeliveryMode.PING, DeliveryMode.PUSH) and token is None:
        raise InvalidRequest("client_notification_token is required for ping and push clients")
    if token is not None and len(token) > MAX_NOTIFICATION_TOKEN_LENGTH:
        raise InvalidRequest("client_notification_token must not exceed 1024 characters")
    return token if mode in (DeliveryMode.PING, DeliveryMode.PUSH) else None


async def check_user_code(params: Form, client: Client, user: User, *, config: ServerConfig, now: datetime,
                          attempts: UserCodeAttempts, checks: CodeChecks) -> None:
    """CIBA Core 7.1: required when the server supports it and the client registered for it.
    A user's code may be guessed at most USER_CODE.max_attempts times per window, whichever
    client asks; after that every code is refused until the window passes."""
    if not (config.backchannelUserCodeParameterSupported and client.backchannel_user_code_parameter):
        return
    code = params.get("user_code")
    if code is None:
        raise MissingUserCode("user_code is required for this client")
    checks.ensure_capacity()  # busy: 429 before a guess is spent
    if not await attempts.allow(user.sub, now):
        raise InvalidUserCode("user_code is not valid")
    matches = len(code) <= user_code.MAX_LENGTH and await checks.verify(user.user_code_hash, code)
    if not matches:
        raise InvalidUserCode("user_code is not valid")
    await attempts.succeeded(user.sub)


async def store(requests: NewRequests, auth_request: AuthRequest, config: ServerConfig) -> None:
    """The request with its history and its event (services.gateway.stores.requests), or 429
    when the user already has backchannelMaxPendingPerUser pending requests."""
    try:
        await requests.add(auth_request, max_pending_per_user=config.backchannelMaxPendingPerUser)
    except lifecycle.TooManyPending:
        raise SlowDown("too many pending requests for this user", status=429,
                       retry_after=config.backchannelAuthenticationResponseInterval) from None


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    config = gw.rt.config
    check_feature_enabled(config)
    form = await read_form(request)
    client = await gw.client_auth.authenticate(request, form, config)
    check_rate_limit(gw.rate_limiter, client, config)
    mode = check_client_may_use_ciba(client, config)
    fapi_ciba.check_client(config, client)
    params = await request_object.read_parameters(client, form, client_keys=gw.client_keys, jtis=gw.jtis,
                                                  issuer=gw.issuer, config=config, now=gw.rt.clock.now())
    scopes = check_scope(params, client)
    hint_name, hint = hints.choose_hint(params)
    binding_message = check_binding_message(params, config)
    fapi_ciba.check_authentication_request(config, client, signed="request" in form, binding_message=binding_message)
    expires_in = check_requested_expiry(params, config)
    acr_values = check_acr_values(params)
    notification_token = check_client_notification_token(params, mode)
    authorization_details = check_authorization_details(params, client, config)
    user = await hints.resolve_user(client, hint_name, hint, users=gw.users, client_keys=gw.client_keys,
                                    server_keys=gw.keyring, issuer=gw.issuer, config=config, now=gw.rt.clock.now())
    await check_user_code(params, client, user, config=config, now=gw.rt.clock.now(),
                          attempts=gw.user_code_attempts, checks=gw.password_checks)

    now = gw.rt.clock.now()
    auth_req_id = new_token(32)  # 256 bits from the CSPRNG, [A-Za-z0-9_-]
    interval = config.backchannelAuthenticationResponseInterval if mode != DeliveryMode.PUSH else None
    secrets = gw.rt.secrets
    auth_request = AuthRequest(
        id=uuid4(), auth_req_id_hash=secrets.hash(auth_req_id),
        auth_req_id_enc=secrets.encrypt(auth_req_id), client_id=client.client_id, sub=user.sub,
        delivery_mode=mode, scope=scopes, acr_values=acr_values, binding_message=binding_message,
        client_notification_token_enc=secrets.encrypt(notification_token) if notification_token else None,
        status=Status.PENDING, interval_sec=interval, created_at=now,
        expires_at=now + timedelta(seconds=expires_in), decided_at=None, auth_time=None,
        acr=None, failure_reason=None, tokens_issued_at=None, traceparent=tracing.current_traceparent(),
        ui_locales=locale.well_formed_ui_locales(params.get("ui_locales")),
        authorization_details=authorization_details,
    )
    await store(gw.new_requests, auth_request, config)
    with bind_request(auth_req_id=auth_req_id):
        log.info("auth_request_created", client_id=client.client_id, delivery_mode=mode,
                 expires_in=expires_in, hint=hint_name, signed="request" in form)
    body: dict[str, object] = {"auth_req_id": auth_req_id, "expires_in": expires_in}
    if interval is not None:
        body["interval"] = interval
    return web.json_response(body, headers=NO_STORE)
