"""Talking to FCM: the service-account assertion exchanged for an access token (RFC 7523), and
the ``messages:send`` call for one device."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from joserfc import jwt
from joserfc.jwk import RSAKey

from services.notifier.plugins.base import NotificationContext
from services.notifier.plugins.fcm.errors import FcmConfigError, FcmError, TokenError
from services.notifier.plugins.fcm.settings import FcmSettings
from shared.clock import rfc3339
from shared.outbound import RETRYABLE_STATUS, ResponseTooLarge, read_body

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_SEC = 3600
MAX_ANSWER_BYTES = 64 * 1024

TITLE = "Sign-in request"


def message_for(ctx: NotificationContext, device_token: str) -> dict[str, Any]:
    """The ``messages:send`` body for one device. FCM data values must be strings."""
    data = {
        "authorization_url": ctx.authorization_url,
        "client_name": ctx.client_name,
        "notification_id": ctx.notification_id,
        "expires_at": rfc3339(ctx.expires_at),
    }
    body = f"{ctx.client_name} asks you to sign in"
    if ctx.binding_message is not None:
        data["binding_message"] = ctx.binding_message
        body += f": {ctx.binding_message}"
    return {
        "message": {
            "token": device_token,
            "data": data,
            "notification": {"title": TITLE, "body": body},
            "android": {"priority": "high"},
            "apns": {"headers": {"apns-priority": "10"}},
        }
    }


def sign_assertion(settings: FcmSettings, now: float) -> str:
    try:
        key = RSAKey.import_key(settings.private_key)
    except Exception:
        # Never let the key material travel in an exception message.
        raise FcmConfigError("fcm.service_account.private_key is not a usable RSA key") from None
    if not key.is_private:
        raise FcmConfigError("fcm.service_account.private_key is not a private key")
    header = {"alg": "RS256", "typ": "JWT"}
    if settings.private_key_id:
        header["kid"] = settings.private_key_id
    issued = int(now)
    claims = {"iss": settings.client_email, "scope": SCOPE, "aud": settings.token_uri,
              "iat": issued, "exp": issued + ASSERTION_LIFETIME_SEC}
    return jwt.encode(header, claims, key, algorithms=["RS256"])


async def _read_json(response: aiohttp.ClientResponse) -> Any:
    """The answer, read to its end (a success split across TCP segments must not look like a
    failure and be sent again); None when it is not JSON, or longer than any answer of FCM's."""
    try:
        raw = await read_body(response, MAX_ANSWER_BYTES)
    except ResponseTooLarge:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


async def fetch_access_token(http: aiohttp.ClientSession, settings: FcmSettings, now: float) -> tuple[str, float]:
    """A new access token and its lifetime in seconds, or TokenError (FcmConfigError for a key
    that cannot sign)."""
    form = {"grant_type": JWT_BEARER_GRANT, "assertion": sign_assertion(settings, now)}
    timeout = aiohttp.ClientTimeout(total=settings.timeout)
    try:
        async with http.post(settings.token_uri, data=form, timeout=timeout, allow_redirects=False,
                             headers={"Accept": "application/json"}) as response:
            status = response.status
            answer = await _read_json(response)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise TokenError(f"token endpoint unreachable: {type(exc).__name__}", permanent=False) from None
    if status != 200:
        permanent = 400 <= status < 500 and status not in RETRYABLE_STATUS
        raise TokenError(_refusal(status, answer), permanent=permanent)
    token = answer.get("access_token") if isinstance(answer, dict) else None
    expires_in = answer.get("expires_in") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenError("token endpoint answered without an access_token", permanent=False)
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
        expires_in = ASSERTION_LIFETIME_SEC
    return token, float(expires_in)


def _refusal(status: int, answer: Any) -> str:
    """The token endpoint's refusal: its status, and its OAuth ``error`` (RFC 6749 5.2), cut short."""
    detail = f"token endpoint answered HTTP {status}"
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, str):
        detail += f" {error[:64]}"
        description = answer.get("error_description")
        if isinstance(description, str):
            detail += f" ({description[:120]})"
    return detail


async def send(http: aiohttp.ClientSession, settings: FcmSettings, access_token: str,
               body: bytes) -> tuple[int, FcmError | None]:
    """One ``messages:send``: its status, and the error FCM answered (None on success). Raises
    what aiohttp raises."""
    headers = {"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=settings.timeout)
    async with http.post(settings.send_url, data=body, headers=headers, timeout=timeout,
                         allow_redirects=False) as response:
        status = response.status
        answer = await _read_json(response)
    if status == 200 and isinstance(answer, dict) and isinstance(answer.get("name"), str):
        return status, None
    return status, FcmError.parse(status, answer)
