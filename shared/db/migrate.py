"""Versioned SQL migrations, applied in order under a Postgres advisory lock.

Each ``migrations/NNNN_name.sql`` runs in its own transaction with its version row, so a
failed migration leaves the schema as it was. Replicas starting together queue on the lock;
the second finds nothing left to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from shared.logging import get_logger

# Any fixed 64-bit number: the lock's name.
MIGRATION_LOCK_ID = 0x43_49_42_41_5F_44_42  # "CIBA_DB"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

log = get_logger("ciba.db")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("shared.db.migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def needed_version() -> int:
    """The schema version this release's code needs."""
    return available_migrations()[-1].version


async def current_version(conn: asyncpg.Connection) -> int:
    """The newest migration applied to the database; 0 before the first."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NULL"):
        return 0
    version: int = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")
    return version


class SchemaTooNew(RuntimeError):
    """The database carries migrations this release does not know: a newer release migrated
    it. Running older code on it could write what the newer schema forbids."""


async def applied(conn: asyncpg.Connection) -> list[tuple[int, str]]:
    """The migrations recorded in the database, (version, name), oldest first."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NULL"):
        return []
    return [(row["version"], row["name"])
            for row in await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")]


def label(version: int, name: str) -> str:
    return f"{version:04d}_{name}"


async def status(conn: asyncpg.Connection) -> dict[str, list[str]]:
    """What ``ciba-admin db status`` prints: the applied migrations, those this release would
    apply, and any the database has that this release does not know (a newer release's)."""
    done = await applied(conn)
    known = {m.version for m in available_migrations()}
    done_versions = {version for version, _ in done}
    return {
        "applied": [label(version, name) for version, name in done if version in known],
        "pending": [label(m.version, m.name) for m in available_migrations() if m.version not in done_versions],
        "unknown": [label(version, name) for version, name in done if version not in known],
    }


async def refuse_newer(conn: asyncpg.Connection) -> None:
    """Raise SchemaTooNew when the database was migrated past what this release knows."""
    unknown = (await status(conn))["unknown"]
    if unknown:
        raise SchemaTooNew(
            f"the database schema is newer than this release (it has {', '.join(unknown)}, which this release "
            f"does not know; this release needs version {needed_version()}): run the release that migrated it")


async def upgrade(conn: asyncpg.Connection) -> list[Migration]:
    """Apply every pending migration; returns those applied by this call."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for migration in available_migrations():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            log.info("migration_applied", version=migration.version, name=migration.name)
            applied.append(migration)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)


async def create_database_if_missing(dsn: str) -> bool:
    """Create the database named in ``dsn`` (connecting to ``postgres``); True if created."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ValueError(f"database name {name!r} must be letters, digits and underscores")
    admin_dsn = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()
