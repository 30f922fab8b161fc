"""The auth_requests row as the other submodules read and write it: its columns, and a row
read back into an ``AuthRequest``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from shared.domain.auth_request import AuthRequest, DeliveryMode, Status

COLUMNS = (
    "id, auth_req_id_hash, auth_req_id_enc, client_id, sub, delivery_mode, scope, acr_values,"
    " binding_message, client_notification_token_enc, status, interval_sec,"
    " created_at, expires_at, decided_at, auth_time, acr, failure_reason, tokens_issued_at,"
    " push_payload_enc, delivery_state, reannounced, traceparent, ui_locales, authorization_details"
)
INSERT_COLUMNS = COLUMNS.rsplit(", push_payload_enc", 1)[0]


def to_request(values: Mapping[str, Any] | asyncpg.Record) -> AuthRequest:
    """A stored request, its status and delivery mode read back into their enums."""
    fields = dict(values)
    fields["status"] = Status(fields["status"])
    fields["delivery_mode"] = DeliveryMode(fields["delivery_mode"])
    return AuthRequest(**fields)


def from_row(row: asyncpg.Record | None) -> AuthRequest | None:
    return to_request(row) if row else None


def columns(alias: str) -> str:
    """The request's columns for a query that joins it (``alias.id, alias.auth_req_id_hash, ...``)."""
    return ", ".join(f"{alias}.{c.strip()}" for c in COLUMNS.split(","))


R_COLUMNS = columns("r")
_STORED_FIELDS = tuple(name for name in AuthRequest.__dataclass_fields__ if name != "notified_at")


def from_record(row: asyncpg.Record) -> AuthRequest:
    """The request out of a row that holds ``columns(...)`` (and maybe more)."""
    return to_request({**{name: row[name] for name in _STORED_FIELDS}, "notified_at": row.get("notified_at")})
