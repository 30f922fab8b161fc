"""A server property changed at run time reaches a running service within 2 seconds
(README, "Server properties"), through NOTIFY or, failing that, the fallback check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from shared.config.live import LiveConfig
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.db.listener import PgListener
from shared.repositories import config as config_repo
from shared.settings import Settings

PROPERTY = "cibaGrantLifeExtraTimeSec"
OTHER_PROPERTY = "backchannelPingOnExpiry"
DEADLINE_SEC = 2.0


@pytest.fixture
async def restore_property(pool: asyncpg.Pool) -> AsyncIterator[None]:
    """Put the properties a test touches back as they were stored (the database is shared)."""
    keys = (PROPERTY, OTHER_PROPERTY)
    stored = await config_repo.load_stored(pool)
    try:
        yield
    finally:
        async with pool.acquire() as conn:
            for key in keys:
                if key in stored:
                    await config_repo.upsert(conn, key, stored[key])
                else:
                    await config_repo.delete(conn, key)


@asynccontextmanager
async def watching(pool: asyncpg.Pool, dsn: str, *, fallback_interval: float) -> AsyncIterator[LiveConfig]:
    """A LiveConfig as a service runs it: attached to a running PgListener, watching."""
    live = LiveConfig(pool, "development", Secrets(Settings(env="development").secret_key_bytes),
                      fallback_interval=fallback_interval)
    await live.load()
    listener = PgListener(dsn)
    live.attach(listener)
    tasks = [asyncio.ensure_future(listener.run())]
    try:
        await asyncio.wait_for(listener.connected.wait(), 5)
        tasks.append(asyncio.ensure_future(live.watch()))
        yield live
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def seen_within(live: LiveConfig, check: Callable[[ServerConfig], bool], seconds: float) -> float:
    """Seconds until ``live.current`` passes ``check``; fails after ``seconds``."""
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def poll() -> None:
        while True:
            if check(live.current):
                return
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), seconds)
    return loop.time() - start


def value_is(expected: Any) -> Callable[[ServerConfig], bool]:
    return lambda config: getattr(config, PROPERTY) == expected


async def test_change_with_notify_reaches_a_running_watcher_within_2_seconds(pool, settings, restore_property):
    # The fallback check is far slower than the deadline: only the NOTIFY can be in time.
    async with watching(pool, settings.database_url, fallback_interval=60) as live:
        assert getattr(live.current, PROPERTY) != 123
        async with pool.acquire() as conn:
            await config_repo.upsert(conn, PROPERTY, 123)

        await seen_within(live, value_is(123), DEADLINE_SEC)

        async with pool.acquire() as conn:
            await config_repo.delete(conn, PROPERTY)
        await seen_within(live, value_is(ServerConfig().cibaGrantLifeExtraTimeSec), DEADLINE_SEC)


async def test_change_without_notify_is_found_by_the_fallback_check(pool, settings, restore_property):
    async with watching(pool, settings.database_url, fallback_interval=0.3) as live:
        await pool.execute(
            """INSERT INTO as_config (key, value, updated_at) VALUES ($1, $2, now())
               ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()""",
            PROPERTY, 77,
        )

        await seen_within(live, value_is(77), DEADLINE_SEC)


async def test_invalid_stored_value_keeps_the_last_good_configuration(pool, settings, restore_property):
    async with watching(pool, settings.database_url, fallback_interval=60) as live:
        async with pool.acquire() as conn:
            await config_repo.upsert(conn, PROPERTY, 45)
        await seen_within(live, value_is(45), DEADLINE_SEC)

        async with pool.acquire() as conn:
            await config_repo.upsert(conn, PROPERTY, -1)  # refused by the model
            await config_repo.upsert(conn, OTHER_PROPERTY, not live.current.backchannelPingOnExpiry)

        with pytest.raises(TimeoutError):
            await seen_within(live, lambda config: getattr(config, PROPERTY) != 45, 0.5)
        assert live.current.backchannelPingOnExpiry == ServerConfig().backchannelPingOnExpiry
