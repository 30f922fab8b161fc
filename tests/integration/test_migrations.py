"""Schema migrations: applied once, in order, even when replicas start together."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from shared.db import migrate


@pytest.fixture
async def empty_database(backing) -> AsyncIterator[str]:
    """A brand new database on the test server, dropped afterwards."""
    name = f"ciba_migrate_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(backing.admin_database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(urlsplit(backing.admin_database_url)._replace(path=f"/{name}"))
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


async def applied_versions(conn: asyncpg.Connection) -> list[int]:
    return [row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]


def test_migrations_are_numbered_without_gaps():
    versions = [m.version for m in migrate.available_migrations()]

    assert versions == list(range(1, len(versions) + 1))


async def test_second_upgrade_is_a_no_op(empty_database):
    conn = await asyncpg.connect(empty_database)
    try:
        first = await migrate.upgrade(conn)
        tables_after_first = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")

        second = await migrate.upgrade(conn)

        assert [m.version for m in first] == [m.version for m in migrate.available_migrations()]
        assert second == []
        assert await applied_versions(conn) == [m.version for m in first]
        assert await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == tables_after_first
    finally:
        await conn.close()


async def test_upgrade_of_the_session_database_finds_nothing_to_do(pool):
    async with pool.acquire() as conn:
        assert await migrate.upgrade(conn) == []


async def test_racing_upgrades_on_a_new_database_apply_each_migration_exactly_once(empty_database):
    first, second = await asyncpg.connect(empty_database), await asyncpg.connect(empty_database)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(migrate.upgrade(first), migrate.upgrade(second)), timeout=20
        )

        applied = [m.version for result in results for m in result]
        available = [m.version for m in migrate.available_migrations()]
        assert sorted(applied) == available
        assert [] in results  # the loser queued on the lock and found nothing left
        assert await applied_versions(first) == available
        assert await first.fetchval("SELECT to_regclass('public.auth_requests') IS NOT NULL")
    finally:
        await first.close()
        await second.close()


async def test_upgrade_releases_its_advisory_lock(empty_database):
    conn = await asyncpg.connect(empty_database)
    try:
        await migrate.upgrade(conn)

        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        assert held == 0
    finally:
        await conn.close()
