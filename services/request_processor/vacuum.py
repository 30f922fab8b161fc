"""Vacuuming the queue-like tables when Postgres's autovacuum is off.

The outbox (and the poll stamps, and device links) churn all the time: at 800 requests a
second the outbox leaves 48,000 dead rows a minute, and the relay's batch walks their index
entries until a vacuum clears them (4 ms a batch with 850,000 dead rows, 0.2 ms after a
vacuum: the approve-to-ping latency went from 9.2 to 7.0 ms). Migration 0011 tunes
autovacuum for them; when an operator turned autovacuum off altogether, the request-processor
vacuums them itself, every INTERVAL_SEC, those that hold over DEAD_ROWS dead rows, and says
once in its log that autovacuum is off. VACUUM (SKIP_LOCKED) passes a table another replica
is vacuuming.
"""

from __future__ import annotations

import asyncio

import asyncpg

from shared.logging import get_logger
from shared.loops import run_periodically

INTERVAL_SEC = 10.0
DEAD_ROWS = 1_000  # as migration 0011 asks of autovacuum
TABLES = ("outbox", "poll_marks", "device_page_refs", "processed_events", "login_throttle")
log = get_logger("ciba.vacuum")


async def autovacuum_on(pool: asyncpg.Pool) -> bool:
    on: bool = await pool.fetchval("SELECT current_setting('autovacuum') = 'on'")
    return on


async def vacuum_once(pool: asyncpg.Pool) -> list[str]:
    """Vacuum the queue-like tables that hold more than DEAD_ROWS dead rows; returns which."""
    rows = await pool.fetch(
        "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY($1::text[]) AND n_dead_tup > $2",
        list(TABLES), DEAD_ROWS)
    vacuumed = []
    for row in rows:
        table = row["relname"]
        if table in TABLES:  # a name we chose, never input
            await pool.execute(f"VACUUM (SKIP_LOCKED, ANALYZE) {table}")
            vacuumed.append(table)
    return vacuumed


async def run(pool: asyncpg.Pool, stop: asyncio.Event) -> None:
    warned = False

    async def work() -> None:
        nonlocal warned
        if await autovacuum_on(pool):
            return
        if not warned:
            log.warning("autovacuum_off", advice="turn autovacuum on; until then the request-processor "
                                                 "vacuums " + ", ".join(TABLES))
            warned = True
        vacuumed = await vacuum_once(pool)
        if vacuumed:
            log.info("tables_vacuumed", tables=vacuumed)

    await run_periodically(stop, "vacuum", work, lambda: INTERVAL_SEC)
