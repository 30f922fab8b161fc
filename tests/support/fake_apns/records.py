"""The fake APNs's vocabulary: Apple's limits and default reasons, a token signing key as Apple's
developer account hands it out, what the fake records of connections and accepted
notifications, and the request and refusal its server and connections pass between them."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

TOKEN_LIFETIME_SEC = 3600
TOKEN_MIN_UPDATE_INTERVAL_SEC = 20 * 60
MAX_PAYLOAD_BYTES = 4096
PUSH_TYPES = {"alert", "background", "location", "voip", "complication", "fileprovider", "mdm",
              "liveactivity", "pushtotalk", "widgets", "controls"}
DEFAULT_REASONS = {400: "BadDeviceToken", 403: "Forbidden", 404: "BadPath", 405: "MethodNotAllowed",
                   410: "Unregistered", 413: "PayloadTooLarge", 429: "TooManyRequests",
                   500: "InternalServerError", 503: "ServiceUnavailable"}
DEFAULT_TOPIC = "com.example.ciba.authenticator"

Answer = int | tuple[int, str]


def _apple_id() -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(10))


@dataclass(frozen=True)
class ApnsKey:
    """A token signing key as Apple's developer account hands it out: the .p8 PEM, its key ID,
    and the team it belongs to."""

    team_id: str
    key_id: str
    private_key: str = field(repr=False)
    public_key: ec.EllipticCurvePublicKey = field(repr=False)


def generate_apns_key(team_id: str | None = None, key_id: str | None = None) -> ApnsKey:
    """A fresh P-256 key with 10-character team and key IDs (not known to any fake)."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return ApnsKey(team_id or _apple_id(), key_id or _apple_id(), pem, private.public_key())


@dataclass
class ConnectionInfo:
    number: int
    alpn: str | None
    tls_version: str | None
    protocol_errors: list[str] = field(default_factory=list)


@dataclass
class ReceivedNotification:
    connection: int
    alpn: str | None
    http_version: str
    stream_id: int
    device_token: str
    headers: dict[str, str]
    payload: dict[str, Any]
    provider_token: str
    apns_id: str


@dataclass
class _Stream:
    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
