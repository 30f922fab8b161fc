"""ciba-admin secrets rekey: everything stored under an older master key, re-encrypted and
re-hashed under the newest one (the first of CIBA_SECRET_KEYS), so the older keys can go.

Table by table, in chunks of CHUNK rows in primary-key order, each chunk one transaction that
locks its rows (the services keep working beside it: a row they are changing waits for the
chunk, and the chunk only writes the columns it re-keys). A row already under the newest key
is left as it is, so an interrupted run picks up where it stopped when run again.

What cannot be re-hashed is what is stored only as a hash: refresh tokens (each use issues a
new one, under the newest key), device-page links (they die with their request, in minutes)
and the secrets of clients registered before secrets were also kept encrypted (the gateway
re-hashes one when its client authenticates). The summary counts the refresh tokens issued
before the run (and until when they live) and those clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.config import sealed
from shared.crypto import Secrets
from shared.repositories import config as config_repo

CHUNK = 500


@dataclass(frozen=True)
class Column:
    name: str
    # The hash column kept beside it (the keyed hash of the decrypted value), if any.
    hash_column: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    columns: tuple[Column, ...]


TABLES = (
    Table("signing_keys", "kid", (Column("private_key_enc"),)),
    Table("clients", "client_id", (Column("client_secret_enc", "client_secret_hash"),)),
    Table("users", "sub", (Column("totp_secret_enc"),)),
    Table("devices", "id", (Column("token_enc", "token_hash"),)),
    Table("auth_requests", "id", (Column("auth_req_id_enc", "auth_req_id_hash"),
                                  Column("client_notification_token_enc"), Column("push_payload_enc"))),
)


def _needs(secrets: Secrets, row: asyncpg.Record, column: Column) -> bool:
    ciphertext = row[column.name]
    if ciphertext is None:
        return False
    if not secrets.under_newest_key(ciphertext):
        return True
    return column.hash_column is not None and row[column.hash_column] != secrets.hash(secrets.decrypt(ciphertext))


async def _rekey_table(conn: asyncpg.Connection, secrets: Secrets, table: Table,
                       progress: Callable[[str], None]) -> dict[str, int]:
    selected = ", ".join([table.key] + [c for col in table.columns for c in (col.name, col.hash_column) if c])
    seen = rewritten = 0
    last: Any = None
    while True:
        async with conn.transaction():
            rows = await conn.fetch(
                f"SELECT {selected} FROM {table.name} WHERE $1::text IS NULL OR {table.key}::text > $1::text "  # noqa: S608
                f"ORDER BY {table.key}::text LIMIT {CHUNK} FOR UPDATE", last)
            for row in rows:
                todo = [column for column in table.columns if _needs(secrets, row, column)]
                if not todo:
                    continue
                values: list[Any] = []
                sets = []
                for column in todo:
                    sets.append(f"{column.name} = ${len(values) + 2}")
                    values.append(secrets.reencrypt(row[column.name]))
                    if column.hash_column:
                        sets.append(f"{column.hash_column} = ${len(values) + 2}")
                        values.append(secrets.hash(secrets.decrypt(row[column.name])))
                await conn.execute(f"UPDATE {table.name} SET {', '.join(sets)} WHERE {table.key} = $1",  # noqa: S608
                                   row[table.key], *values)
                rewritten += 1
        if not rows:
            break
        seen += len(rows)
        last = str(rows[-1][table.key])
        progress(f"{table.name}: {seen} rows read, {rewritten} re-keyed")
    return {"rows": seen, "rekeyed": rewritten}


def _reseal(value: Any, secrets: Secrets) -> tuple[Any, bool]:
    """``value`` with each sealed secret re-encrypted under the newest key; whether any was not."""
    if isinstance(value, dict) and set(value) == {sealed.SEALED}:
        ciphertext = value[sealed.SEALED]
        if secrets.under_newest_key(ciphertext):
            return value, False
        return {sealed.SEALED: secrets.reencrypt(ciphertext)}, True
    changed = False
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out[key], moved = _reseal(item, secrets)
            changed |= moved
        return out, changed
    if isinstance(value, list):
        items = [_reseal(item, secrets) for item in value]
        return [item for item, _ in items], any(moved for _, moved in items)
    return value, False


async def _rekey_config(conn: asyncpg.Connection, secrets: Secrets) -> dict[str, int]:
    rewritten = 0
    async with conn.transaction():
        rows = await conn.fetch("SELECT key, value FROM as_config ORDER BY key FOR UPDATE")
        for row in rows:
            resealed, changed = _reseal(row["value"], secrets)
            if changed:
                await conn.execute("UPDATE as_config SET value = $2 WHERE key = $1", row["key"], resealed)
                rewritten += 1
    if rewritten:  # the services reload their configuration (shared/config/live.py)
        await conn.execute("SELECT pg_notify($1, 'rekey')", config_repo.CONFIG_CHANNEL)
    return {"rows": len(rows), "rekeyed": rewritten}


async def rekey(conn: asyncpg.Connection, secrets: Secrets, *, now: datetime,
                progress: Callable[[str], None]) -> dict[str, Any]:
    tables = {table.name: await _rekey_table(conn, secrets, table, progress) for table in TABLES}
    tables["as_config"] = await _rekey_config(conn, secrets)
    waiting = await conn.fetchrow(
        """SELECT count(*) AS tokens, max(expires_at) AS until FROM tokens
            WHERE kind = 'refresh' AND revoked_at IS NULL AND used_at IS NULL
              AND (expires_at IS NULL OR expires_at > $1) AND issued_at < $1""", now)
    assert waiting is not None  # an aggregate without GROUP BY: always one row
    hashed_only = await conn.fetchval(
        "SELECT count(*) FROM clients WHERE client_secret_hash IS NOT NULL AND client_secret_enc IS NULL")
    return {
        "keys": secrets.key_count,
        # Registered before secrets were kept encrypted: re-hashed when they next authenticate
        # while the older key is still listed (or given a new secret).
        "clients_with_hash_only": hashed_only,
        "tables": tables,
        # Stored only as hashes, so not re-keyed: a refresh token issued under an older key is
        # found under that key until it is used (its successor is under the newest) or expires.
        "refresh_tokens_issued_before": waiting["tokens"],
        "older_keys_needed_until": waiting["until"] if waiting["tokens"] else None,
    }
