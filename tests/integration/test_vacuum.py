"""With autovacuum off, the request-processor vacuums the queue-like tables itself once they
hold many dead rows (services.request_processor.vacuum)."""

from __future__ import annotations

import asyncio

from services.request_processor import vacuum


async def dead_rows(pool, table: str) -> int:
    return await pool.fetchval("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = $1", table) or 0


async def test_a_table_with_many_dead_rows_is_vacuumed(pool, monkeypatch) -> None:
    monkeypatch.setattr(vacuum, "DEAD_ROWS", 50)
    ids = await pool.fetch(
        """INSERT INTO outbox (message_id, routing_key, body)
           SELECT gen_random_uuid(), 'test.vacuum', '{}'::jsonb FROM generate_series(1, 200) RETURNING id""")
    await pool.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [row["id"] for row in ids])
    for _ in range(100):  # the statistics reach pg_stat_user_tables within a second or so
        if await dead_rows(pool, "outbox") > 50:
            break
        await asyncio.sleep(0.1)
    assert await dead_rows(pool, "outbox") > 50
    assert "outbox" in await vacuum.vacuum_once(pool)
    for _ in range(100):
        if await dead_rows(pool, "outbox") < 50:
            break
        await asyncio.sleep(0.1)
    assert await dead_rows(pool, "outbox") < 50
