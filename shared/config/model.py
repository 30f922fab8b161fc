"""The authorization server's run-time configuration: the server properties.

Names follow the reference page (Janssen's AppConfiguration) so operators can carry their
knowledge over; the properties after ``cibaEndUserNotificationConfig`` are our own. Only values
an operator changed are stored; everything else is the default below.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from shared.domain.auth_request import DeliveryMode

SigningAlg = Literal["RS256", "PS256", "ES256"]
DEFAULT_DELIVERY_MODES: tuple[DeliveryMode, ...] = tuple(DeliveryMode)
DEFAULT_REQUEST_SIGNING_ALGS: tuple[SigningAlg, ...] = ("PS256", "ES256", "RS256")
# An RFC 9396 authorization details type: a name or a URI, printable, without spaces.
AuthorizationDetailsType = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[!-~]+$")]
KNOWN_FEATURE_FLAGS = ("ciba",)


class ConfigError(ValueError):
    """A server property was refused; the message names the property."""


class ServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    featureFlags: list[str] = Field(default_factory=list)
    dynamicRegistrationEnabled: bool = True
    # With a value, POST /register requires it as a bearer token (RFC 7591 3: an initial
    # access token); stored sealed, like every secret property.
    dynamicRegistrationInitialAccessToken: str | None = Field(default=None, min_length=16, max_length=512)

    # Endpoints published in discovery (null: derived from CIBA_ISSUER).
    backchannelAuthenticationEndpoint: str | None = None
    backchannelDeviceRegistrationEndpoint: str | None = None
    # Kept for configurations carried over from the reference server; handed to notification
    # plugins as they are (our own device pages need no internal client).
    backchannelClientId: str | None = None
    backchannelRedirectUri: str | None = None

    backchannelTokenDeliveryModesSupported: list[DeliveryMode] = Field(
        default_factory=lambda: list(DEFAULT_DELIVERY_MODES), min_length=1
    )
    backchannelAuthenticationRequestSigningAlgValuesSupported: list[SigningAlg] = Field(
        default_factory=lambda: list(DEFAULT_REQUEST_SIGNING_ALGS)
    )
    backchannelUserCodeParameterSupported: bool = False
    backchannelBindingMessagePattern: str = r"^[\w .,:;!?#+/()'-]{1,64}$"
    # Checked before the pattern, whatever the pattern allows (a phone shows a few lines).
    backchannelBindingMessageMaxLength: int = Field(default=128, ge=1, le=1024)
    backchannelAuthenticationResponseExpiresIn: int = Field(default=600, ge=1, le=86400)
    backchannelAuthenticationResponseInterval: int = Field(default=5, ge=1, le=3600)
    cibaGrantLifeExtraTimeSec: int = Field(default=180, ge=0, le=86400)
    cibaMaxExpirationTimeAllowedSec: int = Field(default=1800, ge=1, le=86400)
    backchannelLoginHintClaims: list[str] = Field(
        default_factory=lambda: ["username", "email", "phone_number"], min_length=1
    )
    backchannelRequestsProcessorJobIntervalSec: float = Field(default=2, gt=0, le=3600)
    backchannelRequestsProcessorJobChunkSize: int = Field(default=500, ge=1, le=100_000)
    cibaEndUserNotificationConfig: dict[str, Any] = Field(
        default_factory=lambda: {"notifier": "log"}
    )

    backchannelPingOnExpiry: bool = True
    backchannelDeliveryMaxAttempts: int = Field(default=6, ge=1, le=50)
    backchannelDeliveryTimeoutSec: float = Field(default=10, gt=0, le=60)
    cibaNotificationRecoveryAfterSec: int = Field(default=60, ge=5, le=3600)
    cibaNotificationMaxAttempts: int = Field(default=5, ge=1, le=50)
    cibaLongPollingMaxWaitSec: int = Field(default=30, ge=0, le=120)
    notificationEndpointAllowPrivateNetworks: bool = False
    backchannelRateLimitPerClient: float = Field(default=0, ge=0)
    backchannelMaxPendingPerUser: int = Field(default=0, ge=0)
    # Failed sign-ins on the device pages per source address within 15 minutes (0 = off).
    deviceLoginMaxFailuresPerAddress: int = Field(default=30, ge=0)
    backchannelMaxDevicesPerUser: int = Field(default=10, ge=1, le=100)
    # The client_ids that may register authentication devices at /bc-deviceRegistration
    # (the operator's own authenticator app); none by default.
    backchannelDeviceRegistrationClients: list[str] = Field(default_factory=list)
    # The client_ids that may introspect any token at /introspect (resource servers: the APIs
    # that accept our access tokens); every other client sees only its own.
    introspectionResourceServers: list[str] = Field(default_factory=list)
    # Rich authorization requests (RFC 9396, shared/domain/authorization_details.py): the
    # authorization_details types /bc-authorize accepts (from clients that registered them in
    # authorization_details_types); published as authorization_details_types_supported. [] = off.
    authorizationDetailsTypesSupported: list[AuthorizationDetailsType] = Field(
        default_factory=lambda: ["payment_initiation"], max_length=100
    )
    # The FAPI-CIBA profile for every client (shared/domain/fapi_ciba.py); a client can also opt
    # in alone with the metadata fapi_ciba: true.
    fapiCibaProfile: bool = False

    # Finished requests (with their history, attempts and device links), and expired or
    # revoked tokens, are deleted this many days after they finished; each request leaves an
    # audit row, kept for cibaAuditRetentionDays (services/request_processor/retention.py).
    cibaRetentionDays: int = Field(default=30, ge=1, le=3650)
    cibaAuditRetentionDays: int = Field(default=365, ge=1, le=36500)

    # ciba-admin keys rotate: a new key is published this long before it signs, so relying
    # parties that cache the JWKS see it first. keys retire: a retired key stays published (and
    # verifies) this long; null means the longest token lifetime.
    signingKeyPrepublishSec: int = Field(default=3600, ge=0, le=30 * 86400)
    signingKeyRetireAfterSec: int | None = Field(default=None, ge=0, le=365 * 86400)

    accessTokenLifetime: int = Field(default=3600, ge=60, le=86400)
    idTokenLifetime: int = Field(default=3600, ge=60, le=86400)
    refreshTokenLifetime: int = Field(default=30 * 86400, ge=60)

    # DPoP (RFC 9449, services/gateway/dpop.py): a proof is accepted this long after its iat
    # (and a few seconds before it); its jti is remembered as long. With dpopNonceRequired, every
    # proof must carry a nonce the server handed out (DPoP-Nonce), else use_dpop_nonce.
    dpopProofMaxAgeSec: int = Field(default=60, ge=5, le=600)
    dpopNonceRequired: bool = False

    @field_validator("featureFlags")
    @classmethod
    def _known_flags(cls, flags: list[str]) -> list[str]:
        unknown = sorted(set(flags) - set(KNOWN_FEATURE_FLAGS))
        if unknown:
            raise ValueError(f"unknown feature flag(s) {unknown}; known: {list(KNOWN_FEATURE_FLAGS)}")
        return sorted(set(flags))

    @field_validator("backchannelBindingMessagePattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return pattern

    @field_validator("cibaEndUserNotificationConfig")
    @classmethod
    def _names_a_notifier(cls, value: dict[str, Any]) -> dict[str, Any]:
        names = value.get("notifier")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError('must be an object with a "notifier" name or a list of names tried in order, '
                             'e.g. {"notifier": "log"} or {"notifier": ["fcm", "email"]}')
        for name in names:
            if name in value and not isinstance(value[name], dict):
                raise ValueError(f"the settings of notifier {name!r} must be an object")
        return value

    def feature_enabled(self, flag: str) -> bool:
        return flag in self.featureFlags

    @property
    def ciba_enabled(self) -> bool:
        return self.feature_enabled("ciba")


PROPERTY_NAMES = tuple(ServerConfig.model_fields)


def defaults_for(env: str) -> dict[str, Any]:
    """Defaults that depend on CIBA_ENV: the ciba flag is on in development only."""
    return {"featureFlags": ["ciba"] if env == "development" else []}


def build_config(stored: dict[str, Any], env: str) -> ServerConfig:
    """The effective configuration: defaults, then the operator's stored values."""
    try:
        return ServerConfig.model_validate({**defaults_for(env), **stored})
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "value"
        if err["type"] == "extra_forbidden":
            parts.append(f"{name}: unknown server property")
        else:
            parts.append(f"{name}: {err['msg']}")
    return "; ".join(parts)
