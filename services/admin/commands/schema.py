"""ciba-admin db: the database schema's migrations."""

from __future__ import annotations

import argparse
from typing import Any

from services.admin.commands.common import database
from shared.db import migrate
from shared.runtime import wait_for_database
from shared.settings import Settings


async def db_upgrade(settings: Settings, args: argparse.Namespace) -> Any:
    created = False
    if args.wait > 0:
        await wait_for_database(settings.database_url, timeout=args.wait)
    if args.create_database:
        created = await migrate.create_database_if_missing(settings.database_url)
    async with database(settings) as conn:
        await migrate.refuse_newer(conn)
        applied = await migrate.upgrade(conn)
        current = await conn.fetchval("SELECT max(version) FROM schema_migrations")
    return {"database_created": created, "applied": [f"{m.version:04d}_{m.name}" for m in applied],
            "version": current}


async def db_status(settings: Settings, args: argparse.Namespace) -> Any:
    async with database(settings) as conn:
        return await migrate.status(conn)
