"""``fcm``: a push message to each of the user's registered devices through Firebase Cloud
Messaging (HTTP v1 API).

Configuration::

    {"notifier": ["fcm", "email"],
     "fcm": {"service_account": {...the Google service-account JSON...},
             "project_id": "...",                      # optional, else the service account's
             "api_base": "https://fcm.googleapis.com",  # optional
             "token_uri": "https://oauth2.googleapis.com/token",  # optional, else the account's
             "timeout": 10}}                            # seconds per HTTP call, optional

Access tokens come from Google's service-account flow (RFC 7523): a JWT signed RS256 with the
account's private key is exchanged at ``token_uri`` for an access token, which is cached in
the plugin instance (one per notifier process) until a minute before it expires; concurrent
notifications wait for one refresh. Each device gets one ``messages:send`` call carrying
``authorization_url``, ``binding_message``, ``client_name``, ``notification_id`` and
``expires_at`` as (string) data plus a visible notification.

Outcome: sent when at least one device accepted. Devices FCM calls dead (``UNREGISTERED``, or
``INVALID_ARGUMENT`` about the registration token) are named in ``unregistered_devices``. A
401 drops the cached access token, refreshes it and retries that device once. 429, 5xx,
timeouts and connection errors are retried (by the notifier, with back-off); no registered
device, only dead devices, refused credentials and other client errors are final. Access
tokens, the private key and device tokens never reach the log: devices are logged by id.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from joserfc import jwt
from joserfc.jwk import RSAKey

from services.notifier.plugins import push
from services.notifier.plugins.base import NotificationContext, NotificationResult, RegisteredDevice
from services.notifier.plugins.push import DeviceOutcome
from shared.outbound import RETRYABLE_STATUS, ResponseTooLarge, read_body

DEFAULT_API_BASE = "https://fcm.googleapis.com"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
DEFAULT_TIMEOUT_SEC = 10.0
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_SEC = 3600
REFRESH_MARGIN_SEC = 60.0
MAX_ANSWER_BYTES = 64 * 1024

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
RETRYABLE_ERROR_CODES = {"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"}

TITLE = "Sign-in request"


class FcmConfigError(ValueError):
    """The plugin's configuration cannot work; retrying will not help."""


class TokenError(Exception):
    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent


@dataclass(frozen=True)
class FcmSettings:
    client_email: str
    private_key: str
    private_key_id: str | None
    project_id: str
    token_uri: str
    api_base: str
    timeout: float

    @property
    def cache_key(self) -> tuple[str, str]:
        return (self.client_email, self.token_uri)

    @property
    def send_url(self) -> str:
        return f"{self.api_base}/v1/projects/{self.project_id}/messages:send"


def _http_url(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise FcmConfigError(f"fcm.{name} must be an http(s) URL")
    return value


def settings_from(config: dict[str, Any]) -> FcmSettings:
    account = config.get("service_account")
    if isinstance(account, str):
        try:
            account = json.loads(account)
        except ValueError:
            raise FcmConfigError("fcm.service_account is not JSON") from None
    if not isinstance(account, dict):
        raise FcmConfigError("fcm.service_account is not configured")
    client_email = account.get("client_email")
    private_key = account.get("private_key")
    if not isinstance(client_email, str) or not client_email:
        raise FcmConfigError("fcm.service_account.client_email is missing")
    if not isinstance(private_key, str) or "PRIVATE KEY" not in private_key:
        raise FcmConfigError("fcm.service_account.private_key is missing or not a PEM private key")
    project_id = config.get("project_id") or account.get("project_id")
    if not isinstance(project_id, str) or not project_id or "/" in project_id:
        raise FcmConfigError("fcm.project_id (or service_account.project_id) is missing")
    token_uri = _http_url(config.get("token_uri") or account.get("token_uri") or DEFAULT_TOKEN_URI,
                          "token_uri")
    api_base = _http_url(config.get("api_base") or DEFAULT_API_BASE, "api_base").rstrip("/")
    try:
        timeout = float(config.get("timeout", DEFAULT_TIMEOUT_SEC))
    except (TypeError, ValueError):
        raise FcmConfigError("fcm.timeout must be a number of seconds") from None
    if timeout <= 0:
        raise FcmConfigError("fcm.timeout must be positive")
    key_id = account.get("private_key_id")
    return FcmSettings(client_email=client_email, private_key=private_key,
                       private_key_id=key_id if isinstance(key_id, str) and key_id else None,
                       project_id=project_id, token_uri=token_uri, api_base=api_base, timeout=timeout)


def rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


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


@dataclass(frozen=True)
class FcmError:
    """The parts of an FCM error answer that decide what to do (never its free text)."""

    http_status: int
    status: str | None = None
    error_code: str | None = None
    """errorCode of the google.firebase.fcm.v1.FcmError detail."""
    bad_fields: tuple[str, ...] = ()
    """Fields named by google.rpc.BadRequest field violations."""

    @classmethod
    def parse(cls, http_status: int, answer: Any) -> FcmError:
        error = answer.get("error") if isinstance(answer, dict) else None
        if not isinstance(error, dict):
            return cls(http_status)
        status = error.get("status") if isinstance(error.get("status"), str) else None
        error_code = None
        bad_fields: list[str] = []
        details = error.get("details")
        for detail in details if isinstance(details, list) else []:
            if not isinstance(detail, dict):
                continue
            if detail.get("@type") == FCM_ERROR_TYPE and isinstance(detail.get("errorCode"), str):
                error_code = detail["errorCode"]
            elif detail.get("@type") == BAD_REQUEST_TYPE and isinstance(detail.get("fieldViolations"), list):
                bad_fields.extend(str(v.get("field")) for v in detail["fieldViolations"] if isinstance(v, dict))
        return cls(http_status, status, error_code, tuple(bad_fields))

    @property
    def label(self) -> str:
        parts = [f"HTTP {self.http_status}"]
        parts += [p for p in (self.status, self.error_code) if p and p not in parts]
        return " ".join(parts)

    @property
    def device_is_dead(self) -> bool:
        """UNREGISTERED, or INVALID_ARGUMENT about the token itself (FCM's token-management
        guidance). An INVALID_ARGUMENT naming another field is our message's fault."""
        if self.error_code == "UNREGISTERED":
            return True
        if self.error_code == "INVALID_ARGUMENT":
            return all(field == "message.token" for field in self.bad_fields)
        return False

    @property
    def unauthenticated(self) -> bool:
        """The access token was refused (THIRD_PARTY_AUTH_ERROR is the APNs/web-push
        credential, which a new access token does not fix)."""
        return self.http_status == 401 and self.error_code != "THIRD_PARTY_AUTH_ERROR"

    @property
    def retryable(self) -> bool:
        return (self.http_status in RETRYABLE_STATUS or self.http_status >= 500
                or self.error_code in RETRYABLE_ERROR_CODES or self.http_status < 400)


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


class FcmNotifier:
    name = "fcm"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._tokens = push.TokenCache(clock)

    async def notify(self, ctx: NotificationContext) -> NotificationResult:
        if not ctx.devices:
            ctx.log.info("fcm_no_device", user=ctx.user.username)
            return NotificationResult.failed("fcm: no device registered", permanent=True)
        try:
            settings = settings_from(ctx.config)
            await self._access_token(ctx.http, settings)
        except FcmConfigError as exc:
            ctx.log.warning("fcm_misconfigured", detail=str(exc))
            return NotificationResult.failed(f"fcm: {exc}", permanent=True)
        except TokenError as exc:
            ctx.log.warning("fcm_access_token_refused", detail=exc.detail, permanent=exc.permanent)
            return NotificationResult.failed(f"fcm: {exc.detail}", permanent=exc.permanent)

        outcomes = await asyncio.gather(*(self._deliver(ctx, settings, device) for device in ctx.devices))
        for outcome in outcomes:
            ctx.log.info("fcm_device_notified", device_id=outcome.device_id, outcome=outcome.outcome,
                         detail=outcome.detail)
        return summarise(outcomes)

    # -- access tokens ---------------------------------------------------------------------

    async def _access_token(self, http: aiohttp.ClientSession, settings: FcmSettings) -> str:
        async def fetch() -> tuple[str, float]:
            token, expires_in = await self._fetch_token(http, settings)
            return token, expires_in - REFRESH_MARGIN_SEC

        return await self._tokens.get(settings.cache_key, fetch)

    def _forget(self, settings: FcmSettings, refused: str) -> None:
        self._tokens.forget(settings.cache_key, refused)

    async def _fetch_token(self, http: aiohttp.ClientSession, settings: FcmSettings) -> tuple[str, float]:
        assertion = sign_assertion(settings, self._wall_clock())
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
        timeout = aiohttp.ClientTimeout(total=settings.timeout)
        try:
            async with http.post(settings.token_uri, data=form, timeout=timeout, allow_redirects=False,
                                 headers={"Accept": "application/json"}) as response:
                status = response.status
                answer = await _read_json(response)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TokenError(f"token endpoint unreachable: {type(exc).__name__}", permanent=False) from None
        if status != 200:
            error = answer.get("error") if isinstance(answer, dict) else None
            detail = f"token endpoint answered HTTP {status}"
            if isinstance(error, str):
                detail += f" {error[:64]}"
                description = answer.get("error_description")
                if isinstance(description, str):
                    detail += f" ({description[:120]})"
            permanent = 400 <= status < 500 and status not in RETRYABLE_STATUS
            raise TokenError(detail, permanent=permanent)
        token = answer.get("access_token") if isinstance(answer, dict) else None
        expires_in = answer.get("expires_in") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise TokenError("token endpoint answered without an access_token", permanent=False)
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
            expires_in = ASSERTION_LIFETIME_SEC
        return token, float(expires_in)

    # -- sending ---------------------------------------------------------------------------

    async def _deliver(self, ctx: NotificationContext, settings: FcmSettings,
                       device: RegisteredDevice) -> DeviceOutcome:
        body = json.dumps(message_for(ctx, device.token), separators=(",", ":")).encode()
        refreshed = False
        while True:
            try:
                access_token = await self._access_token(ctx.http, settings)
            except TokenError as exc:
                outcome = "failed" if exc.permanent else "retryable"
                return DeviceOutcome(device.id, outcome, exc.detail)
            try:
                status, error = await self._send(ctx.http, settings, access_token, body)
            except (TimeoutError, aiohttp.ClientError) as exc:
                return DeviceOutcome(device.id, "retryable", f"FCM unreachable: {type(exc).__name__}")
            if error is None:
                return DeviceOutcome(device.id, "sent", f"HTTP {status}")
            if error.unauthenticated and not refreshed:
                self._forget(settings, access_token)
                refreshed = True
                continue
            if error.device_is_dead:
                return DeviceOutcome(device.id, "unregistered", error.label)
            if error.unauthenticated or error.retryable:
                return DeviceOutcome(device.id, "retryable", error.label)
            return DeviceOutcome(device.id, "failed", error.label)

    async def _send(self, http: aiohttp.ClientSession, settings: FcmSettings, access_token: str,
                    body: bytes) -> tuple[int, FcmError | None]:
        headers = {"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"}
        timeout = aiohttp.ClientTimeout(total=settings.timeout)
        async with http.post(settings.send_url, data=body, headers=headers, timeout=timeout,
                             allow_redirects=False) as response:
            status = response.status
            answer = await _read_json(response)
        if status == 200 and isinstance(answer, dict) and isinstance(answer.get("name"), str):
            return status, None
        return status, FcmError.parse(status, answer)


def summarise(outcomes: list[DeviceOutcome] | tuple[DeviceOutcome, ...]) -> NotificationResult:
    return push.summarise("fcm", outcomes)
