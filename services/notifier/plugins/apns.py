"""``apns``: a push notification to each of the user's registered devices through the Apple
Push Notification service (the HTTP/2 provider API, token-based authentication).

Configuration::

    {"notifier": ["apns", "email"],
     "apns": {"team_id": "ABCDE12345",          # the 10-character Team ID
              "key_id": "XYZ9876543",           # the 10-character ID of the signing key
              "private_key": "-----BEGIN PRIVATE KEY-----\\n...",  # the .p8 file (stored sealed)
              "topic": "com.example.authenticator",  # the app's bundle ID
              "environment": "production",      # or "sandbox" (development builds); optional
              "host": "api.push.apple.com:443", # optional, overrides the environment's host
              "ca_file": "/etc/ssl/extra-ca.pem",  # optional CA trusted beside the system's
              "timeout": 10}}                   # seconds per HTTP/2 call, optional

Each device gets ``POST /3/device/{token}`` over one long-lived HTTP/2 connection (APNs speaks
nothing else, and asks providers to keep their connection open rather than reconnect). The
request carries ``authorization: bearer <provider token>``, a JWT signed ES256 with the key,
``{alg, kid}`` / ``{iss: team, iat}``. Apple refuses a token older than an hour and one renewed
more often than every 20 minutes, so the token is cached per key in the plugin instance (one per
notifier process) and renewed after 50 minutes; concurrent notifications wait for one signing.
The notification is a visible alert ("Sign-in request") whose payload also carries
``authorization_url``, ``notification_id``, ``client_name``, ``binding_message`` and
``expires_at``; ``apns-expiration`` is the request's expiry and ``apns-collapse-id`` its
notification_id, so a retried notification replaces rather than repeats itself.

Outcome: sent when at least one device accepted. Devices APNs calls dead (410, or 400
``BadDeviceToken`` / ``DeviceTokenNotForTopic``) are named in ``unregistered_devices``. A 403
``ExpiredProviderToken`` renews the provider token and retries that device once. 429, 5xx,
timeouts and connection errors are retried (by the notifier, with back-off); no registered
device, only dead devices, a refused provider token, an untrusted server certificate and other
client errors are final. The provider token, the key and device tokens never reach the log:
devices are logged by id.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from services.notifier.plugins import push
from services.notifier.plugins.base import NotificationContext, NotificationResult, RegisteredDevice
from services.notifier.plugins.push import DeviceOutcome
from shared.outbound import RETRYABLE_STATUS

HOSTS = {"production": "api.push.apple.com", "sandbox": "api.sandbox.push.apple.com"}
ENVIRONMENT_ALIASES = {"development": "sandbox"}
"""Apple's entitlement calls the sandbox ``development``."""
DEFAULT_TIMEOUT_SEC = 10.0
TOKEN_RENEW_AFTER_SEC = 50 * 60.0
"""Apple accepts a provider token for an hour and refuses renewals within 20 minutes."""
KEEPALIVE_SEC = 300.0
"""How long an idle connection is kept (httpx's default is 5 s; Apple asks providers to keep
their connection rather than reconnect, and NAT gateways forget idle flows after ~350 s)."""
MAX_ANSWER_BYTES = 64 * 1024
MAX_COLLAPSE_ID_BYTES = 64

DEAD_DEVICE_REASONS: frozenset[str] = frozenset()
"""400 reasons that would drop a registration; none: Apple also answers BadDeviceToken or
DeviceTokenNotForTopic when *our* environment or topic is wrong, and dropping every user's
devices for a configuration slip is worse than one failed push. Only 410 drops a device."""

TITLE = "Sign-in request"

_APPLE_ID = re.compile(r"[A-Za-z0-9]{10}")
_TOPIC = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,254}")
_REASON = re.compile(r"[A-Za-z]{1,64}")
_APNS_ID = re.compile(r"[0-9A-Fa-f-]{1,64}")


class ApnsConfigError(ValueError):
    """The plugin's configuration cannot work; retrying will not help."""


@dataclass(frozen=True)
class ApnsSettings:
    team_id: str
    key_id: str
    private_key: str = field(repr=False)
    topic: str
    host: str
    """``host`` or ``host:port``."""
    ca_file: str | None
    timeout: float

    @property
    def token_cache_key(self) -> tuple[str, str, str]:
        """Per signing key; a digest of the key too, so that replacing a wrong key under the
        same key_id does not keep serving tokens signed with the old one."""
        digest = hashlib.sha256(self.private_key.encode()).hexdigest()[:16]
        return (self.team_id, self.key_id, digest)

    @property
    def client_key(self) -> tuple[str, str | None]:
        """APNs does not accept tokens of several teams on one connection, and the trusted CAs
        are fixed when a connection opens."""
        return (self.team_id, self.ca_file)

    def url_for(self, device_token: str) -> str:
        return f"https://{self.host}/3/device/{quote(device_token, safe='')}"


def _apple_id(config: dict[str, Any], name: str) -> str:
    value = config.get(name)
    if not isinstance(value, str) or not _APPLE_ID.fullmatch(value):
        raise ApnsConfigError(f"apns.{name} must be the 10-character identifier from Apple's developer account")
    return value


def _host(config: dict[str, Any]) -> str:
    override = config.get("host")
    if override is None or override == "":
        environment = config.get("environment", "production")
        environment = ENVIRONMENT_ALIASES.get(environment, environment) if isinstance(environment, str) else None
        if environment not in HOSTS:
            raise ApnsConfigError('apns.environment must be "production" or "sandbox"')
        return HOSTS[environment]
    if not isinstance(override, str) or any(c in override for c in "/?#@\\") or any(c.isspace() for c in override):
        raise ApnsConfigError("apns.host must be a host name, optionally with :port")
    parts = urlsplit(f"https://{override}")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ApnsConfigError("apns.host has an invalid port") from None
    if not parts.hostname:
        raise ApnsConfigError("apns.host must be a host name, optionally with :port")
    return override


def settings_from(config: dict[str, Any]) -> ApnsSettings:
    team_id = _apple_id(config, "team_id")
    key_id = _apple_id(config, "key_id")
    private_key = config.get("private_key")
    if not isinstance(private_key, str) or "PRIVATE KEY" not in private_key:
        raise ApnsConfigError("apns.private_key is missing or not a PEM private key (the .p8 file)")
    if "\\n" in private_key and "\n" not in private_key.strip():
        private_key = private_key.replace("\\n", "\n")  # pasted with its newlines escaped
    topic = config.get("topic")
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
        raise ApnsConfigError("apns.topic must be the app's bundle ID")
    host = _host(config)
    ca_file = config.get("ca_file")
    if ca_file is not None and ca_file != "" and not isinstance(ca_file, str):
        raise ApnsConfigError("apns.ca_file must be a path")
    timeout = config.get("timeout", DEFAULT_TIMEOUT_SEC)
    if isinstance(timeout, bool):
        raise ApnsConfigError("apns.timeout must be a number of seconds")
    try:
        timeout = float(timeout)
    except (TypeError, ValueError):
        raise ApnsConfigError("apns.timeout must be a number of seconds") from None
    if not timeout > 0:
        raise ApnsConfigError("apns.timeout must be positive")
    return ApnsSettings(team_id=team_id, key_id=key_id, private_key=private_key, topic=topic, host=host,
                        ca_file=ca_file or None, timeout=timeout)


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's trust store plus the operator's CA; verification is always on."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ValueError):
            raise ApnsConfigError("apns.ca_file cannot be read as PEM certificates") from None
    return context


def sign_provider_token(settings: ApnsSettings, now: float) -> str:
    """The provider authentication token: ``{alg: ES256, kid}`` / ``{iss: team, iat}``."""
    try:
        key = ECKey.import_key(settings.private_key)
    except Exception:
        # Never let the key material travel in an exception message.
        raise ApnsConfigError("apns.private_key is not a usable EC private key") from None
    if not key.is_private or key.curve_name != "P-256":
        raise ApnsConfigError("apns.private_key is not a P-256 private key (the .p8 file)")
    return jwt.encode({"alg": "ES256", "kid": settings.key_id}, {"iss": settings.team_id, "iat": int(now)},
                      key, algorithms=["ES256"], default_type=None)


def rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def unix_time(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, int(moment.timestamp()))


def payload_for(ctx: NotificationContext) -> dict[str, Any]:
    """The notification's JSON payload: a visible alert plus the request's details."""
    body = f"{ctx.client_name} asks you to sign in"
    payload: dict[str, Any] = {
        "aps": {"alert": {"title": TITLE, "body": body}, "sound": "default"},
        "authorization_url": ctx.authorization_url,
        "notification_id": ctx.notification_id,
        "client_name": ctx.client_name,
        "expires_at": rfc3339(ctx.expires_at),
    }
    if ctx.binding_message is not None:
        payload["binding_message"] = ctx.binding_message
        payload["aps"]["alert"]["body"] = f"{body}: {ctx.binding_message}"
    return payload


def headers_for(ctx: NotificationContext, settings: ApnsSettings) -> dict[str, str]:
    """The request headers, less ``authorization``."""
    headers = {
        "apns-topic": settings.topic,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": str(unix_time(ctx.expires_at)),
        "content-type": "application/json",
    }
    if 0 < len(ctx.notification_id.encode()) <= MAX_COLLAPSE_ID_BYTES:
        headers["apns-collapse-id"] = ctx.notification_id
    return headers


@dataclass(frozen=True)
class ApnsError:
    """An APNs error answer: its status and the ``reason`` of its JSON body."""

    status: int
    reason: str | None = None

    @classmethod
    def parse(cls, status: int, raw: bytes) -> ApnsError:
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        reason = answer.get("reason") if isinstance(answer, dict) else None
        return cls(status, reason if isinstance(reason, str) and _REASON.fullmatch(reason) else None)

    @property
    def label(self) -> str:
        return f"HTTP {self.status}" + (f" {self.reason}" if self.reason else "")

    @property
    def device_is_dead(self) -> bool:
        return self.status == 410 or (self.status == 400 and self.reason in DEAD_DEVICE_REASONS)

    @property
    def provider_token_expired(self) -> bool:
        return self.status == 403 and self.reason == "ExpiredProviderToken"

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUS or self.status >= 500 or self.status < 400


def _certificate_refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    hops = 0
    while seen is not None and hops < 16:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
        hops += 1
    return False


class _RedactDeviceTokens(logging.Filter):
    """httpx logs every request's URL at INFO, and an APNs URL ends with the device token."""

    _pattern = re.compile(r"/3/device/[^\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/3/device/" in message:
            record.msg = self._pattern.sub("/3/device/<redacted>", message)
            record.args = None
        return True


def _install_log_redaction() -> None:
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactDeviceTokens) for f in httpx_logger.filters):
        httpx_logger.addFilter(_RedactDeviceTokens())
    # hpack logs every header it encodes at DEBUG, the :path (so the device token) included.
    hpack_logger = logging.getLogger("hpack")
    if hpack_logger.level == logging.NOTSET:
        hpack_logger.setLevel(logging.INFO)


_install_log_redaction()


class ApnsNotifier:
    name = "apns"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        """When to renew a provider token."""
        self._wall_clock = wall_clock
        """The tokens' ``iat``."""
        self._tokens = push.TokenCache(clock)
        self._http: httpx.AsyncClient | None = None
        self._http_key: tuple[str, str | None] | None = None
        self._http_lock = asyncio.Lock()

    async def notify(self, ctx: NotificationContext) -> NotificationResult:
        if not ctx.devices:
            ctx.log.info("apns_no_device", user=ctx.user.username)
            return NotificationResult.failed("apns: no device registered", permanent=True)
        try:
            settings = settings_from(ctx.config)
            await self._provider_token(settings)
            client = await self._client(settings)
        except ApnsConfigError as exc:
            ctx.log.warning("apns_misconfigured", detail=str(exc))
            return NotificationResult.failed(f"apns: {exc}", permanent=True)

        body = json.dumps(payload_for(ctx), separators=(",", ":"), ensure_ascii=False).encode()
        headers = headers_for(ctx, settings)
        outcomes = await asyncio.gather(*(self._deliver(client, settings, device, body, headers)
                                          for device in ctx.devices))
        for outcome in outcomes:
            ctx.log.info("apns_device_notified", device_id=outcome.device_id, outcome=outcome.outcome,
                         detail=outcome.detail)
        return summarise(outcomes)

    async def aclose(self) -> None:
        """Close the HTTP/2 connection (the notifier process may simply exit instead)."""
        client, self._http, self._http_key = self._http, None, None
        if client is not None:
            await client.aclose()

    # -- the HTTP/2 client -----------------------------------------------------------------

    async def _client(self, settings: ApnsSettings) -> httpx.AsyncClient:
        """One client, so one connection to APNs kept open across notifications; a new one
        only when the team or the trusted CAs change."""
        if self._http is not None and self._http_key == settings.client_key:
            return self._http
        async with self._http_lock:
            if self._http is not None and self._http_key == settings.client_key:
                return self._http
            context = tls_context(settings.ca_file)
            previous = self._http
            self._http = httpx.AsyncClient(http1=False, http2=True, verify=context, follow_redirects=False,
                                           trust_env=False, timeout=settings.timeout,
                                           limits=httpx.Limits(max_connections=100, max_keepalive_connections=20,
                                                               keepalive_expiry=KEEPALIVE_SEC))
            self._http_key = settings.client_key
            if previous is not None:
                await previous.aclose()
            return self._http

    # -- provider tokens -------------------------------------------------------------------

    async def _provider_token(self, settings: ApnsSettings) -> str:
        async def sign() -> tuple[str, float]:
            return sign_provider_token(settings, self._wall_clock()), TOKEN_RENEW_AFTER_SEC

        return await self._tokens.get(settings.token_cache_key, sign)

    def _forget(self, settings: ApnsSettings, refused: str) -> None:
        self._tokens.forget(settings.token_cache_key, refused)

    # -- sending ---------------------------------------------------------------------------

    async def _deliver(self, client: httpx.AsyncClient, settings: ApnsSettings, device: RegisteredDevice,
                       body: bytes, headers: dict[str, str]) -> DeviceOutcome:
        renewed = False
        while True:
            try:
                token = await self._provider_token(settings)
            except ApnsConfigError as exc:
                return DeviceOutcome(device.id, "failed", str(exc))
            try:
                status, error, apns_id = await self._send(client, settings, token, device.token, body, headers)
            except httpx.TimeoutException as exc:
                return DeviceOutcome(device.id, "retryable", f"APNs did not answer in time: {type(exc).__name__}")
            except httpx.TransportError as exc:
                if _certificate_refused(exc):
                    return DeviceOutcome(device.id, "failed", "the APNs server's certificate is not trusted")
                return DeviceOutcome(device.id, "retryable", f"APNs unreachable: {type(exc).__name__}")
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                return DeviceOutcome(device.id, "failed", f"request refused by the client: {type(exc).__name__}")
            if error is None:
                return DeviceOutcome(device.id, "sent", f"HTTP {status}" + (f" apns-id {apns_id}" if apns_id else ""))
            if error.provider_token_expired and not renewed:
                self._forget(settings, token)
                renewed = True
                continue
            if error.device_is_dead:
                return DeviceOutcome(device.id, "unregistered", error.label)
            if error.provider_token_expired or error.retryable:
                return DeviceOutcome(device.id, "retryable", error.label)
            return DeviceOutcome(device.id, "failed", error.label)

    async def _send(self, client: httpx.AsyncClient, settings: ApnsSettings, token: str, device_token: str,
                    body: bytes, headers: dict[str, str]) -> tuple[int, ApnsError | None, str | None]:
        request_headers = {"authorization": f"bearer {token}", **headers}
        async with client.stream("POST", settings.url_for(device_token), content=body, headers=request_headers,
                                 timeout=settings.timeout) as response:
            raw = bytearray()
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) >= MAX_ANSWER_BYTES:
                    break
            status = response.status_code
            apns_id = response.headers.get("apns-id")
        if status == 200:
            return status, None, apns_id if apns_id and _APNS_ID.fullmatch(apns_id) else None
        return status, ApnsError.parse(status, bytes(raw[:MAX_ANSWER_BYTES])), None



def summarise(outcomes: list[DeviceOutcome] | tuple[DeviceOutcome, ...]) -> NotificationResult:
    return push.summarise("apns", outcomes)
