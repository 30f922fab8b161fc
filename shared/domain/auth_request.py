"""A CIBA request as the domain sees it: its state, its delivery mode, and its record.

The states and the transitions between them are in ``shared.domain.lifecycle``; the SQL
that stores them is in ``shared.repositories.auth_requests``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from shared.crypto import DecryptionError, Secrets
from shared.logging import get_logger

log = get_logger("ciba.requests")


class Status(StrEnum):
    """Where a request is in its life (shared.domain.lifecycle draws the machine)."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    FAILED = "failed"
    TOKENS_ISSUED = "tokens_issued"


FINISHED = tuple(status for status in Status if status is not Status.PENDING)


class DeliveryMode(StrEnum):
    """How the client learns the outcome (CIBA Core 5)."""

    POLL = "poll"
    PING = "ping"
    PUSH = "push"


@dataclass(frozen=True)
class AuthRequest:
    id: UUID
    auth_req_id_hash: bytes
    auth_req_id_enc: str
    client_id: str
    sub: str
    delivery_mode: DeliveryMode
    scope: list[str]
    acr_values: list[str] | None
    binding_message: str | None
    client_notification_token_enc: str | None
    status: Status
    interval_sec: int | None
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    auth_time: datetime | None
    acr: str | None
    failure_reason: str | None
    tokens_issued_at: datetime | None
    push_payload_enc: str | None = None
    delivery_state: str | None = None
    reannounced: int = 0
    # The trace the request began in (W3C traceparent, shared.tracing); None while tracing is off.
    traceparent: str | None = None
    # When a notification plugin last reached the user (decide() reads it, for the metrics).
    notified_at: datetime | None = None
    # The languages the client asked the device pages to speak (OIDC ui_locales), space-separated.
    ui_locales: str | None = None
    # RFC 9396: the authorization_details the client asked for (checked JSON objects), if any.
    authorization_details: list[dict[str, Any]] | None = None


def auth_req_id_of(secrets: Secrets, request: AuthRequest) -> str | None:
    """The plain auth_req_id of a stored request, for logs and callbacks; None (and an error
    logged) when no master key decrypts it."""
    try:
        return secrets.decrypt(request.auth_req_id_enc)
    except DecryptionError:
        log.error("auth_req_id_undecryptable", auth_request=str(request.id))
        return None
