"""CIBA requests and their recorded history.

Every state change is a conditional update (``WHERE status = 'pending'`` or ``'approved'``)
with RETURNING, so two racing transitions resolve exactly once: the loser gets ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from shared.db import Connection
from shared.domain.auth_request import AuthRequest, DeliveryMode, Status
from shared.domain.slow_down import SLOW_DOWN_STEP_SEC
from shared.events import Event
from shared.repositories.outbox import OUTBOX_CHANNEL
from shared.repositories.tokens import TokenRecord

_COLUMNS = (
    "id, auth_req_id_hash, auth_req_id_enc, client_id, sub, delivery_mode, scope, acr_values,"
    " binding_message, client_notification_token_enc, status, interval_sec,"
    " created_at, expires_at, decided_at, auth_time, acr, failure_reason, tokens_issued_at,"
    " push_payload_enc, delivery_state, reannounced, traceparent, ui_locales, authorization_details"
)
_INSERT_COLUMNS = _COLUMNS.rsplit(", push_payload_enc", 1)[0]
_R_COLUMNS = ", ".join(f"r.{c.strip()}" for c in _COLUMNS.split(","))


def _request(values: Mapping[str, Any] | asyncpg.Record) -> AuthRequest:
    """A stored request, its status and delivery mode read back into their enums."""
    fields = dict(values)
    fields["status"] = Status(fields["status"])
    fields["delivery_mode"] = DeliveryMode(fields["delivery_mode"])
    return AuthRequest(**fields)


def _from_row(row: asyncpg.Record | None) -> AuthRequest | None:
    return _request(row) if row else None


def columns(alias: str) -> str:
    """The request's columns for a query that joins it (``alias.id, alias.auth_req_id_hash, ...``)."""
    return ", ".join(f"{alias}.{c.strip()}" for c in _COLUMNS.split(","))


_STORED_FIELDS = tuple(name for name in AuthRequest.__dataclass_fields__ if name != "notified_at")


def from_record(row: asyncpg.Record) -> AuthRequest:
    """The request out of a row that holds ``columns(...)`` (and maybe more)."""
    return _request({**{name: row[name] for name in _STORED_FIELDS}, "notified_at": row.get("notified_at")})


async def insert(conn: Connection, req: AuthRequest) -> None:
    await conn.execute(
        f"INSERT INTO auth_requests ({_INSERT_COLUMNS}, traceparent, ui_locales, authorization_details) VALUES"
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
                INSERT INTO auth_requests ({_INSERT_COLUMNS}, traceparent, ui_locales, authorization_details) VALUES
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


async def get(conn: Connection | asyncpg.Pool, request_id: UUID) -> AuthRequest | None:
    return _from_row(await conn.fetchrow(f"SELECT {_COLUMNS} FROM auth_requests WHERE id = $1", request_id))


async def get_by_hash(conn: Connection | asyncpg.Pool,
                      auth_req_id_hashes: list[bytes]) -> AuthRequest | None:
    """The request whose auth_req_id hashes (under any master key) to one of these."""
    return _from_row(
        await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM auth_requests WHERE auth_req_id_hash = ANY($1::bytea[])", auth_req_id_hashes
        )
    )


@dataclass(frozen=True)
class Poll:
    request: AuthRequest
    too_fast: bool
    interval_sec: int | None  # what the request is held to now (grown by each slow_down)


async def record_poll(
    conn: Connection | asyncpg.Pool, auth_req_id_hashes: list[bytes], client_id: str, now: datetime
) -> Poll | None:
    """One statement per poll (CIBA 7.3): stamp the poll and, when a pending request is polled
    sooner than its interval, grow the interval by SLOW_DOWN_STEP_SEC (CIBA 11, slow_down).
    ``None`` when the auth_req_id is unknown or belongs to another client.

    The stamp lives in the unlogged table poll_marks (migration 0009): a poll writes no WAL
    and waits for no disk flush, and a crash of Postgres only forgets a slow_down."""
    row = await conn.fetchrow(
        f"""WITH r AS (
                SELECT {_COLUMNS} FROM auth_requests WHERE auth_req_id_hash = ANY($1::bytea[]) AND client_id = $2),
            mark AS (
                INSERT INTO poll_marks AS m (auth_request_id, last_polled_at, interval_sec)
                SELECT id, $3, coalesce(interval_sec, 0) FROM r
                ON CONFLICT (auth_request_id) DO UPDATE SET
                    too_fast = EXCLUDED.last_polled_at < m.last_polled_at + make_interval(secs => m.interval_sec),
                    interval_sec = CASE
                        WHEN EXCLUDED.last_polled_at < m.last_polled_at + make_interval(secs => m.interval_sec)
                        THEN m.interval_sec + $4 ELSE m.interval_sec END,
                    last_polled_at = EXCLUDED.last_polled_at
                RETURNING too_fast, interval_sec)
            SELECT r.*, mark.too_fast AND r.status = 'pending' AS too_fast, mark.interval_sec AS held_to
              FROM r, mark""",
        auth_req_id_hashes, client_id, now, SLOW_DOWN_STEP_SEC,
    )
    if row is None:
        return None
    values = dict(row)
    too_fast, held_to = values.pop("too_fast"), values.pop("held_to")
    return Poll(_request(values), bool(too_fast), held_to if values["interval_sec"] is not None else None)


async def decide(
    conn: Connection | asyncpg.Pool, request_id: UUID, *, approved: bool, now: datetime,
    auth_time: datetime | None, acr: str | None, service: str, event: Event, traceparent: str | None = None,
) -> AuthRequest | None:
    """pending -> approved | denied, unless it expired meanwhile, announced: the device links
    used up, the history row, the event in the outbox, and the NOTIFYs that wake the relay and
    the request's long polls, all in one statement (one round trip between the user's tap and
    the news of it). None when the request was no longer pending."""
    row = await conn.fetchrow(
        f"""WITH decided AS (
                UPDATE auth_requests SET status = $2, decided_at = $3, auth_time = $4, acr = $5
                 WHERE id = $1 AND status = 'pending' AND expires_at > $3
             RETURNING {_COLUMNS}),
            links AS (
                UPDATE device_page_refs SET used_at = $3
                 WHERE auth_request_id IN (SELECT id FROM decided) AND used_at IS NULL),
            history AS (
                INSERT INTO auth_request_history (auth_request_id, status, at, service)
                SELECT id, status, $3, $6 FROM decided),
            announced AS (
                INSERT INTO outbox (message_id, routing_key, body, auth_request_id, traceparent)
                SELECT $7, $8, $9::text::jsonb, id, $12 FROM decided)
            SELECT d.*, pg_notify($10, d.id::text) AS woke, pg_notify($11, '') AS relayed,
                   (SELECT max(n.at) FROM notification_attempts n
                     WHERE n.auth_request_id = d.id AND n.outcome = 'sent') AS notified_at
              FROM decided d""",
        request_id, Status.APPROVED if approved else Status.DENIED, now, auth_time, acr, service,
        event.message_id, event.routing_key, event.model_dump_json(), REQUEST_CHANGED_CHANNEL, OUTBOX_CHANNEL,
        traceparent,
    )
    return from_record(row) if row else None


@dataclass(frozen=True)
class Expired:
    id: UUID
    client_id: str
    delivery_mode: DeliveryMode


async def expire_due(conn: Connection, now: datetime, limit: int, service: str) -> list[Expired]:
    """pending -> expired for up to ``limit`` requests past their deadline, with their device
    links used up and their history rows, in one statement (set-based: a chunk costs what one
    request did). Rows another replica holds are skipped, so replicas share the sweep without
    waiting on each other. The caller adds the events and the NOTIFYs in the same transaction.

    ``id = ANY(ARRAY(...))``, not a join with the subquery: with a join the planner hashed the
    whole table (a sequential scan of every request ever made, per chunk)."""
    rows = await conn.fetch(
        """WITH due AS (
               UPDATE auth_requests r SET status = 'expired', decided_at = $1
                WHERE r.id = ANY(ARRAY(SELECT id FROM auth_requests
                                        WHERE status = 'pending' AND expires_at <= $1
                                        ORDER BY expires_at
                                        LIMIT $2
                                        FOR UPDATE SKIP LOCKED))
            RETURNING r.id, r.client_id, r.delivery_mode),
           links AS (
               UPDATE device_page_refs SET used_at = $1
                WHERE auth_request_id IN (SELECT id FROM due) AND used_at IS NULL),
           history AS (
               INSERT INTO auth_request_history (auth_request_id, status, at, service)
               SELECT id, 'expired', $1, $3 FROM due)
           SELECT id, client_id, delivery_mode FROM due""",
        now, limit, service,
    )
    return [Expired(**dict(row)) for row in rows]


async def current_interval(conn: Connection | asyncpg.Pool, request: AuthRequest) -> int | None:
    """The interval the request is held to now: its initial one, grown by each slow_down."""
    held_to = await conn.fetchval("SELECT interval_sec FROM poll_marks WHERE auth_request_id = $1", request.id)
    return held_to if held_to is not None else request.interval_sec


async def purge_poll_marks(conn: Connection | asyncpg.Pool, cutoff: datetime) -> int:
    """Forget the poll stamps of requests last polled before ``cutoff`` (long finished)."""
    result = await conn.execute("DELETE FROM poll_marks WHERE last_polled_at < $1", cutoff)
    return int(result.split()[-1])


async def notify_changed_many(conn: Connection, request_ids: list[UUID]) -> None:
    """Wake the long polls of these requests (delivered only if the transaction commits)."""
    await conn.execute("SELECT pg_notify($1, id::text) FROM unnest($2::uuid[]) id",
                       REQUEST_CHANGED_CHANNEL, request_ids)


async def fail(conn: Connection, request_id: UUID, reason: str, now: datetime) -> AuthRequest | None:
    """pending -> failed."""
    return _from_row(
        await conn.fetchrow(
            f"""UPDATE auth_requests SET status = 'failed', failure_reason = $2, decided_at = $3
                 WHERE id = $1 AND status = 'pending'
             RETURNING {_COLUMNS}""",
            request_id, reason, now,
        )
    )


async def issue_tokens(conn: Connection | asyncpg.Pool, request_id: UUID, *, now: datetime,
                       service: str, records: list[TokenRecord], push_payload_enc: str | None) -> bool:
    """approved -> tokens_issued, the tokens' records (one grant: the request's) and the history
    row, in one statement; for push, the encrypted payload kept for delivery too. False when the
    request was not approved (tokens are handed out once)."""
    return bool(await conn.fetchval(
        """WITH issued AS (
               UPDATE auth_requests SET status = 'tokens_issued', tokens_issued_at = $2,
                                        push_payload_enc = coalesce($4, push_payload_enc)
                WHERE id = $1 AND status = 'approved'
            RETURNING id, client_id, sub, scope, auth_time, acr, authorization_details),
           recorded AS (
               INSERT INTO tokens (id, kind, token_hash, grant_id, client_id, sub, scope, auth_time, acr,
                                   issued_at, expires_at, cnf, authorization_details)
               SELECT t.id, t.kind, t.token_hash, i.id, i.client_id, i.sub, i.scope, i.auth_time, i.acr, $2,
                      t.expires_at, t.cnf::jsonb, i.authorization_details
                 FROM issued i, unnest($5::uuid[], $6::text[], $7::bytea[], $8::timestamptz[], $9::text[])
                      AS t(id, kind, token_hash, expires_at, cnf)),
           history AS (
               INSERT INTO auth_request_history (auth_request_id, status, at, service)
               SELECT id, 'tokens_issued', $2, $3 FROM issued)
           SELECT true FROM issued""",
        request_id, now, service, push_payload_enc,
        [r.id for r in records], [r.kind for r in records], [r.token_hash for r in records],
        [r.expires_at for r in records],
        [orjson.dumps(r.cnf).decode() if r.cnf is not None else None for r in records],
    ))


async def add_history(
    conn: Connection, request_id: UUID, status: str, at: datetime, service: str,
    detail: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO auth_request_history (auth_request_id, status, at, service, detail)"
        " VALUES ($1, $2, $3, $4, $5)",
        request_id, status, at, service, detail,
    )


async def history(conn: Connection | asyncpg.Pool, request_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT status, at, service, detail FROM auth_request_history"
        " WHERE auth_request_id = $1 ORDER BY id",
        request_id,
    )
    return [dict(row) for row in rows]


@dataclass(frozen=True)
class Listed:
    request: AuthRequest
    username: str


async def search(conn: Connection | asyncpg.Pool, *, status: str | None, client_id: str | None,
                 username: str | None, created_before: datetime | None, limit: int) -> list[Listed]:
    """Requests for support staff, newest first, by status, client, user and age."""
    rows = await conn.fetch(
        f"""SELECT {_R_COLUMNS}, u.username FROM auth_requests r JOIN users u ON u.sub = r.sub
             WHERE ($1::text IS NULL OR r.status = $1) AND ($2::text IS NULL OR r.client_id = $2)
               AND ($3::text IS NULL OR u.username = $3) AND ($4::timestamptz IS NULL OR r.created_at < $4)
             ORDER BY r.created_at DESC LIMIT $5""",
        status, client_id, username, created_before, limit,
    )
    listed = []
    for row in rows:
        values = dict(row)
        name = values.pop("username")
        listed.append(Listed(_request(values), name))
    return listed


async def pending_for_user(conn: Connection | asyncpg.Pool, sub: str) -> list[AuthRequest]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM auth_requests WHERE sub = $1 AND status = 'pending'", sub)
    return [_request(row) for row in rows]


async def count_pending_for_user(conn: Connection | asyncpg.Pool, sub: str, now: datetime) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM auth_requests WHERE sub = $1 AND status = 'pending' AND expires_at > $2",
        sub, now,
    )
    return count


REQUEST_CHANGED_CHANNEL = "ciba_request_changed"


async def notify_changed(conn: Connection, request_id: UUID) -> None:
    """Wake long polls waiting on this request (delivered only if the transaction commits)."""
    await conn.execute("SELECT pg_notify($1, $2)", REQUEST_CHANGED_CHANNEL, str(request_id))


async def finish_delivery(conn: Connection | asyncpg.Pool, request_id: UUID, state: str) -> None:
    """Record how the callback ended and drop any kept push payload."""
    await conn.execute(
        "UPDATE auth_requests SET delivery_state = $2, push_payload_enc = NULL WHERE id = $1",
        request_id, state,
    )


async def claim_unannounced(conn: Connection, *, created_before: datetime, max_reannounce: int,
                            limit: int) -> list[AuthRequest]:
    """Pending requests old enough to have been notified, never claimed by a notifier, with no
    notification attempt and no event waiting in the outbox: their created event was lost or
    dead-lettered. Counts the re-announcement on each. (A notifier claims every request it
    takes in hand, and one that dies holding a claim sees its message redelivered; the
    unclaimed are few, and the index auth_requests_unclaimed holds just them.)"""
    rows = await conn.fetch(
        f"""UPDATE auth_requests r SET reannounced = r.reannounced + 1
             WHERE r.id = ANY(ARRAY(
                   SELECT a.id FROM auth_requests a
                    WHERE a.status = 'pending' AND a.notify_claimed_at IS NULL
                      AND a.created_at < $1 AND a.reannounced < $2
                      AND NOT EXISTS (SELECT 1 FROM notification_attempts n WHERE n.auth_request_id = a.id)
                      AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.auth_request_id = a.id)
                    ORDER BY a.created_at
                    LIMIT $3
                    FOR UPDATE SKIP LOCKED))
         RETURNING {_R_COLUMNS}""",
        created_before, max_reannounce, limit,
    )
    return [_request(row) for row in rows]


async def claim_notification(conn: Connection | asyncpg.Pool, request_id: UUID, now: datetime,
                             hold: timedelta, owner: UUID) -> bool:
    """Claim the right to notify the user for ``hold`` on behalf of the event ``owner``; False
    while another event's claim holds (the same event may always take its own claim back)."""
    return bool(await conn.fetchval(
        """UPDATE auth_requests SET notify_claimed_at = $2, notify_claimed_by = $4
            WHERE id = $1 AND (notify_claimed_at IS NULL OR notify_claimed_by = $4
                               OR notify_claimed_at <= $2::timestamptz - $3::interval)
        RETURNING true""",
        request_id, now, hold, owner,
    ))


async def release_notification_claim(conn: Connection | asyncpg.Pool, request_id: UUID) -> None:
    await conn.execute("UPDATE auth_requests SET notify_claimed_at = NULL, notify_claimed_by = NULL WHERE id = $1",
                       request_id)
