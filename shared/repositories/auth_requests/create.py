"""Creating requests: each new request goes in with its first history row and its outbox event
(``insert_announced``), one statement; ``insert_announced_many`` does it for a batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson

from shared.db import Connection
from shared.domain.auth_request import AuthRequest
from shared.events import Event
from shared.repositories.auth_requests._rows import INSERT_COLUMNS
from shared.repositories.outbox import OUTBOX_CHANNEL


async def insert(conn: Connection, req: AuthRequest) -> None:
    await conn.execute(
        f"INSERT INTO auth_requests ({INSERT_COLUMNS}, traceparent, ui_locales, authorization_details) VALUES"
        " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
        req.id, req.auth_req_id_hash, req.auth_req_id_enc, req.client_id, req.sub,
        req.delivery_mode, req.scope, req.acr_values, req.binding_message,
        req.client_notification_token_enc, req.status, req.interval_sec,
        req.created_at, req.expires_at, req.decided_at, req.auth_time, req.acr,
        req.failure_reason, req.tokens_issued_at, req.traceparent, req.ui_locales, req.authorization_details,
    )


async def insert_announced(conn: Connection | asyncpg.Pool, req: AuthRequest, *, service: str,
                           event: Event) -> None:
    """The request, its first history row and its outbox event (with the relay's NOTIFY), in
    one statement: atomic on its own, one round trip on the hot path of /bc-authorize."""
    await conn.execute(
        f"""WITH request AS (
                INSERT INTO auth_requests ({INSERT_COLUMNS}, traceparent, ui_locales, authorization_details) VALUES
                ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $25, $26, $27)
                RETURNING id),
            history AS (
                INSERT INTO auth_request_history (auth_request_id, status, at, service)
                SELECT id, $11, $13, $20 FROM request),
            announced AS (
                INSERT INTO outbox (message_id, routing_key, body, auth_request_id)
                SELECT $21, $22, $23, id FROM request)
            SELECT pg_notify($24, '')""",
        req.id, req.auth_req_id_hash, req.auth_req_id_enc, req.client_id, req.sub,
        req.delivery_mode, req.scope, req.acr_values, req.binding_message,
        req.client_notification_token_enc, req.status, req.interval_sec,
        req.created_at, req.expires_at, req.decided_at, req.auth_time, req.acr,
        req.failure_reason, req.tokens_issued_at, service,
        event.message_id, event.routing_key, event.model_dump(mode="json"), OUTBOX_CHANNEL, req.traceparent,
        req.ui_locales, req.authorization_details,
    )


async def insert_announced_many(conn: Connection | asyncpg.Pool, created: Sequence[tuple[AuthRequest, Event]], *,
                                service: str) -> None:
    """``insert_announced`` for new (pending) requests made at the same moment by different
    clients: one statement, one commit and one NOTIFY for all of them. Scope and acr_values
    travel space-joined (arrays of arrays do not unnest), which their syntax allows: they are
    space-delimited lists of tokens (RFC 6749 3.3)."""
    requests = [request for request, _ in created]
    await conn.execute(
        """WITH new AS (
                SELECT * FROM unnest($1::uuid[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[],
                                     $7::text[], $8::text[], $9::text[], $10::text[], $11::int[],
                                     $12::timestamptz[], $13::timestamptz[], $14::uuid[], $15::text[], $16::text[],
                                     $19::text[], $20::text[], $21::text[])
                       AS n(id, auth_req_id_hash, auth_req_id_enc, client_id, sub, delivery_mode, scope, acr_values,
                            binding_message, client_notification_token_enc, interval_sec, created_at, expires_at,
                            message_id, routing_key, body, traceparent, ui_locales, authorization_details)),
            requests AS (
                INSERT INTO auth_requests (id, auth_req_id_hash, auth_req_id_enc, client_id, sub, delivery_mode, scope,
                                           acr_values, binding_message, client_notification_token_enc, status,
                                           interval_sec, created_at, expires_at, traceparent, ui_locales,
                                           authorization_details)
                SELECT id, auth_req_id_hash, auth_req_id_enc, client_id, sub, delivery_mode,
                       string_to_array(scope, ' '), string_to_array(acr_values, ' '), binding_message,
                       client_notification_token_enc, 'pending', interval_sec, created_at, expires_at, traceparent,
                       ui_locales, authorization_details::jsonb
                  FROM new
             RETURNING id),
            history AS (
                INSERT INTO auth_request_history (auth_request_id, status, at, service)
                SELECT id, 'pending', created_at, $17 FROM new WHERE id IN (SELECT id FROM requests)),
            announced AS (
                INSERT INTO outbox (message_id, routing_key, body, auth_request_id)
                SELECT message_id, routing_key, body::jsonb, id FROM new WHERE id IN (SELECT id FROM requests))
            SELECT pg_notify($18, '')""",
        [r.id for r in requests], [r.auth_req_id_hash for r in requests], [r.auth_req_id_enc for r in requests],
        [r.client_id for r in requests], [r.sub for r in requests], [r.delivery_mode for r in requests],
        [" ".join(r.scope) for r in requests],
        [" ".join(r.acr_values) if r.acr_values is not None else None for r in requests],
        [r.binding_message for r in requests], [r.client_notification_token_enc for r in requests],
        [r.interval_sec for r in requests], [r.created_at for r in requests], [r.expires_at for r in requests],
        [e.message_id for _, e in created], [e.routing_key for _, e in created],
        [e.model_dump_json() for _, e in created], service, OUTBOX_CHANNEL, [r.traceparent for r in requests],
        [r.ui_locales for r in requests], [_json_text(r.authorization_details) for r in requests],
    )


def _json_text(value: Any) -> str | None:
    """A jsonb value as text, for the arrays of text that unnest reads (cast back in SQL)."""
    return orjson.dumps(value).decode() if value is not None else None
