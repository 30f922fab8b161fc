"""Counting attempts per key within a window, shared by every gateway replica.

An attempt is counted before the secret is checked, so a burst of concurrent guesses cannot
slip past the limit while their argon2 checks run; a success clears the key (or takes back its
own count). Rows whose window has passed are purged by the request-processor's housekeeping."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from shared.db import Connection


async def count_attempt(conn: Connection | asyncpg.Pool, key: str, now: datetime,
                        window: timedelta, max_attempts: int) -> bool:
    """Record one attempt, unless the window already holds ``max_attempts``: True when it was
    recorded (the attempt may go ahead). A refused attempt checks no secret, so it is not
    counted: a burst refused while other checks run leaves nothing behind once they succeed."""
    counted = await conn.fetchval(
        """INSERT INTO login_throttle AS t (key, window_start, attempts) VALUES ($1, $2, 1)
           ON CONFLICT (key) DO UPDATE SET
               attempts = CASE WHEN t.window_start <= $2 - $3::interval THEN 1 ELSE t.attempts + 1 END,
               window_start = CASE WHEN t.window_start <= $2 - $3::interval THEN $2 ELSE t.window_start END
             WHERE t.window_start <= $2 - $3::interval OR t.attempts < $4
           RETURNING attempts""",
        key, now, window, max_attempts,
    )
    return counted is not None


async def clear(conn: Connection | asyncpg.Pool, key: str) -> None:
    await conn.execute("DELETE FROM login_throttle WHERE key = $1", key)


async def release_attempt(conn: Connection | asyncpg.Pool, key: str) -> None:
    await conn.execute("UPDATE login_throttle SET attempts = attempts - 1 WHERE key = $1 AND attempts > 0", key)


async def purge_older_than(conn: Connection | asyncpg.Pool, cutoff: datetime) -> int:
    result = await conn.execute("DELETE FROM login_throttle WHERE window_start < $1", cutoff)
    return int(result.split()[-1])
