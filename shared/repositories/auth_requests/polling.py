"""Polls of the token endpoint (CIBA 7.3): the stamp each poll leaves, and the interval a
request is held to as slow_down grows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.db import Connection
from shared.domain.auth_request import AuthRequest
from shared.domain.slow_down import SLOW_DOWN_STEP_SEC
from shared.repositories.auth_requests._rows import COLUMNS, to_request


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
                SELECT {COLUMNS} FROM auth_requests WHERE auth_req_id_hash = ANY($1::bytea[]) AND client_id = $2),
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
    return Poll(to_request(values), bool(too_fast), held_to if values["interval_sec"] is not None else None)


async def current_interval(conn: Connection | asyncpg.Pool, request: AuthRequest) -> int | None:
    """The interval the request is held to now: its initial one, grown by each slow_down."""
    held_to = await conn.fetchval("SELECT interval_sec FROM poll_marks WHERE auth_request_id = $1", request.id)
    return held_to if held_to is not None else request.interval_sec


async def purge_poll_marks(conn: Connection | asyncpg.Pool, cutoff: datetime) -> int:
    """Forget the poll stamps of requests last polled before ``cutoff`` (long finished)."""
    result = await conn.execute("DELETE FROM poll_marks WHERE last_polled_at < $1", cutoff)
    return int(result.split()[-1])
