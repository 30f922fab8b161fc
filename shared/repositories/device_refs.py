"""Single-use references that open a request's pages on the authentication device.

Only the keyed hash is stored; the plain reference exists in the notification sent to the
user. A request may have several live references (one per notification attempt); deciding
the request through any of them uses them all up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.db import Connection
from shared.domain.auth_request import AuthRequest
from shared.repositories import auth_requests


@dataclass(frozen=True)
class DeviceRef:
    ref_hash: bytes
    auth_request_id: UUID
    used_at: datetime | None
    failed_logins: int


async def insert(conn: Connection | asyncpg.Pool, ref_hash: bytes, request_id: UUID,
                 now: datetime) -> None:
    await conn.execute(
        "INSERT INTO device_page_refs (ref_hash, auth_request_id, created_at) VALUES ($1, $2, $3)",
        ref_hash, request_id, now,
    )


async def get_with_request(conn: Connection | asyncpg.Pool,
                           ref_hashes: list[bytes]) -> tuple[DeviceRef, AuthRequest | None] | None:
    """The reference (by its hash under any master key) and its request in one round trip:
    every device page starts here."""
    row = await conn.fetchrow(
        "SELECT d.ref_hash, d.auth_request_id, d.used_at, d.failed_logins, "
        f"{auth_requests.columns('r')} FROM device_page_refs d"
        " LEFT JOIN auth_requests r ON r.id = d.auth_request_id WHERE d.ref_hash = ANY($1::bytea[])",
        ref_hashes,
    )
    if row is None:
        return None
    ref = DeviceRef(row["ref_hash"], row["auth_request_id"], row["used_at"], row["failed_logins"])
    return ref, auth_requests.from_record(row) if row["id"] is not None else None


async def use_all(conn: Connection, request_id: UUID, now: datetime) -> None:
    await conn.execute(
        "UPDATE device_page_refs SET used_at = $2 WHERE auth_request_id = $1 AND used_at IS NULL",
        request_id, now,
    )


async def reserve_login_attempt(conn: Connection | asyncpg.Pool, ref_hash: bytes,
                                max_attempts: int) -> bool:
    """Count a sign-in attempt on this link before the password is checked; False when the
    link has used up its attempts. A successful sign-in gives the attempt back."""
    return bool(await conn.fetchval(
        "UPDATE device_page_refs SET failed_logins = failed_logins + 1"
        " WHERE ref_hash = $1 AND failed_logins < $2 RETURNING true",
        ref_hash, max_attempts,
    ))


async def release_login_attempt(conn: Connection | asyncpg.Pool, ref_hash: bytes) -> None:
    await conn.execute(
        "UPDATE device_page_refs SET failed_logins = failed_logins - 1 WHERE ref_hash = $1 AND failed_logins > 0",
        ref_hash,
    )
