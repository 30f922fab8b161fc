"""Schema migrations: applied once, in order, even when replicas start together."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from shared.db import migrate
from tests.support.backing import drop_namespace
from tests.support.fault_proxy import FaultProxy
from tests.support.stack import BIN


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


async def _ciba_admin(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBA_")}
    env |= {"CIBA_DATABASE_URL": database_url, "CIBA_ENV": "development"}
    process = await asyncio.create_subprocess_exec(str(BIN / "ciba-admin"), *args, env=env,
                                                   stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, out.decode(), err.decode()


async def test_a_migration_job_started_before_its_database_waits_for_it(empty_database):
    """Compose and Kubernetes may start `ciba-admin db upgrade --wait` before Postgres answers."""
    host, _, port = urlsplit(empty_database).netloc.rpartition("@")[2].partition(":")
    with FaultProxy(host, int(port or 5432)) as proxy:
        proxy.cut()
        job = asyncio.ensure_future(_ciba_admin(proxy.rewrite(empty_database), "db", "upgrade", "--wait", "30"))
        await asyncio.sleep(2)
        assert not job.done()
        proxy.restore()
        code, out, err = await job

    assert code == 0, err
    assert json.loads(out)["version"] == migrate.available_migrations()[-1].version


async def test_a_migration_job_gives_up_with_one_line_when_the_database_never_answers(empty_database):
    with FaultProxy("127.0.0.1", 9) as proxy:  # nothing listens on the discard port
        proxy.cut()
        code, out, err = await _ciba_admin(proxy.rewrite(empty_database), "db", "upgrade", "--wait", "1")

    assert code != 0 and out == ""
    assert "database not reachable" in err


def _service_env(database_url: str, amqp_url: str, namespace: str, wait_sec: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBA_")}
    return env | {"CIBA_DATABASE_URL": database_url, "CIBA_AMQP_URL": amqp_url, "CIBA_ENV": "development",
                  "CIBA_BUS_NAMESPACE": namespace, "CIBA_STARTUP_WAIT_SEC": wait_sec,
                  "CIBA_LOG_FORMAT": "json", "CIBA_MIGRATE_ON_START": "false",
                  "CIBA_MANAGEMENT_PORT": "0"}


async def _log_until(stream: asyncio.StreamReader, event: str) -> list[dict]:
    seen = []
    while line := await asyncio.wait_for(stream.readline(), timeout=30):
        with contextlib.suppress(json.JSONDecodeError):
            seen.append(json.loads(line))
            if seen[-1].get("event") == event:
                return seen
    raise AssertionError(f"the service ended without logging {event}: {seen}")


async def test_a_service_started_before_the_migration_job_waits_for_the_schema(empty_database, backing):
    """Compose starts the services beside the migration job; Kubernetes has no ordering at all."""
    namespace = f"ciba_schema_wait_{uuid.uuid4().hex[:8]}"
    process = await asyncio.create_subprocess_exec(
        str(BIN / "ciba-request-processor"), env=_service_env(empty_database, backing.amqp_url, namespace, "60"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        waiting = await _log_until(process.stdout, "schema_not_ready")
        assert "the database schema is at version 0" in waiting[-1]["error"]

        conn = await asyncpg.connect(empty_database)
        try:
            await migrate.upgrade(conn)
        finally:
            await conn.close()
        await _log_until(process.stdout, "service_ready")
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
        await drop_namespace(backing.amqp_url, namespace)


async def test_a_service_gives_up_with_one_line_when_the_schema_never_comes(empty_database, backing):
    process = await asyncio.create_subprocess_exec(
        str(BIN / "ciba-request-processor"), env=_service_env(empty_database, backing.amqp_url, "unused", "1"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    seen = await _log_until(process.stdout, "service_failed")

    assert await asyncio.wait_for(process.wait(), timeout=30) == 1
    assert seen[-1]["error"] == ("the database schema is at version 0; this release needs version "
                                 f"{migrate.needed_version()}: run `ciba-admin db upgrade`")


async def test_db_status_lists_applied_and_pending_migrations(empty_database):
    every = [f"{m.version:04d}_{m.name}" for m in migrate.available_migrations()]
    code, out, err = await _ciba_admin(empty_database, "db", "status")
    assert code == 0, err
    assert json.loads(out) == {"applied": [], "pending": every, "unknown": []}

    code, _, err = await _ciba_admin(empty_database, "db", "upgrade")
    assert code == 0, err
    code, out, _ = await _ciba_admin(empty_database, "db", "status")
    assert json.loads(out) == {"applied": every, "pending": [], "unknown": []}


async def _migrated_by_a_newer_release(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        await migrate.upgrade(conn)
        future = migrate.needed_version() + 1
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')", future)
        return future
    finally:
        await conn.close()


@pytest.mark.parametrize("migrate_on_start", ["true", "false"])
async def test_a_service_refuses_a_database_newer_than_its_code(empty_database, backing, migrate_on_start):
    future = await _migrated_by_a_newer_release(empty_database)
    env = _service_env(empty_database, backing.amqp_url, "unused", "30") | {"CIBA_MIGRATE_ON_START": migrate_on_start}
    process = await asyncio.create_subprocess_exec(
        str(BIN / "ciba-request-processor"), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    seen = await _log_until(process.stdout, "service_failed")

    # At once, not after the start-up wait: a newer schema does not become older.
    assert await asyncio.wait_for(process.wait(), timeout=10) == 1
    assert seen[-1]["error"].startswith(
        f"the database schema is newer than this release (it has {future:04d}_from_the_future")


async def test_db_status_and_upgrade_name_what_a_newer_release_applied(empty_database):
    future = await _migrated_by_a_newer_release(empty_database)
    code, out, _ = await _ciba_admin(empty_database, "db", "status")
    assert code == 0
    assert json.loads(out)["unknown"] == [f"{future:04d}_from_the_future"]

    code, out, err = await _ciba_admin(empty_database, "db", "upgrade")
    assert (code, out) == (1, "")
    assert err.startswith("ciba-admin: the database schema is newer than this release")
