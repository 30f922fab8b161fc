"""The user directory.

Every look-up the protocol makes (``get``, ``get_by_username``, the hint searches) sees only
active users: a disabled one is, to the gateway, a user who does not exist. The operator's
commands see everyone through ``entry`` and ``list_entries``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Connection


@dataclass(frozen=True)
class User:
    sub: str
    username: str
    email: str | None
    phone_number: str | None
    password_hash: str
    claims: dict[str, Any] = field(default_factory=dict)
    user_code_hash: str | None = None
    totp_secret_enc: str | None = None
    totp_last_step: int | None = None


_COLUMNS = (
    "sub, username, email, phone_number, password_hash, claims, user_code_hash, totp_secret_enc, totp_last_step"
)


_ACTIVE = "disabled_at IS NULL"


class UserExists(Exception):
    """The username, email or phone number is taken."""


async def insert(conn: Connection, user: User) -> None:
    try:
        await conn.execute(
            f"INSERT INTO users ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            user.sub, user.username, user.email, user.phone_number, user.password_hash,
            user.claims, user.user_code_hash, user.totp_secret_enc, user.totp_last_step,
        )
    except asyncpg.UniqueViolationError as exc:
        raise UserExists(exc.constraint_name or "users") from None


async def get(conn: Connection | asyncpg.Pool, sub: str) -> User | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE sub = $1 AND {_ACTIVE}", sub)
    return User(**dict(row)) if row else None


async def get_by_username(conn: Connection | asyncpg.Pool, username: str) -> User | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE username = $1 AND {_ACTIVE}", username)
    return User(**dict(row)) if row else None


async def find_by_login_hints(
    conn: Connection | asyncpg.Pool, hints: list[str], claims: list[str]
) -> list[list[User]]:
    """For each hint, the users whose username, email (case-insensitive) or phone number equals
    it, limited to the claims the operator lets a hint match; at most two (enough to tell
    "exactly one" from "ambiguous"). One statement for all the hints."""
    rows = await conn.fetch(
        f"""SELECT h.i, u.* FROM unnest($1::text[]) WITH ORDINALITY AS h(hint, i)
            CROSS JOIN LATERAL (
                SELECT {_COLUMNS} FROM users
                 WHERE {_ACTIVE} AND (('username' = ANY($2) AND username = h.hint)
                    OR ('email' = ANY($2) AND lower(email) = lower(h.hint))
                    OR ('phone_number' = ANY($2) AND phone_number = h.hint))
                 LIMIT 2) u""",
        hints,
        claims,
    )
    found: list[list[User]] = [[] for _ in hints]
    for row in rows:
        values = dict(row)
        found[values.pop("i") - 1].append(User(**values))
    return found


async def set_user_code(conn: Connection, username: str, code_hash: str) -> bool:
    result = await conn.execute(
        "UPDATE users SET user_code_hash = $2 WHERE username = $1", username, code_hash
    )
    return result.endswith(" 1")


async def set_own_user_code(conn: Connection | asyncpg.Pool, sub: str, code_hash: str) -> bool:
    """The account page's change: False when the user no longer exists or was disabled."""
    result = await conn.execute(
        f"UPDATE users SET user_code_hash = $2 WHERE sub = $1 AND {_ACTIVE}", sub, code_hash
    )
    return result.endswith(" 1")


_CLAIM_PREDICATES = {
    "username": "username = $1",
    "email": "lower(email) = lower($1)",
    "phone_number": "phone_number = $1",
}


async def find_by_claim(conn: Connection | asyncpg.Pool, claim: str, value: str) -> list[User]:
    """Users whose ``claim`` (username, email, phone_number) equals ``value``; at most two."""
    predicate = _CLAIM_PREDICATES.get(claim)
    if predicate is None:
        return []
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM users WHERE {predicate} AND {_ACTIVE} LIMIT 2", value)
    return [User(**dict(row)) for row in rows]


async def lock(conn: Connection, sub: str) -> None:
    """Hold the user's row until the caller's transaction ends."""
    await conn.execute("SELECT 1 FROM users WHERE sub = $1 FOR UPDATE", sub)


async def enrol_totp(conn: Connection, username: str, secret_enc: str) -> bool:
    """Give the user a new TOTP secret; the steps used with an old one no longer matter."""
    result = await conn.execute(
        "UPDATE users SET totp_secret_enc = $2, totp_last_step = NULL WHERE username = $1",
        username, secret_enc,
    )
    return result.endswith(" 1")


async def use_totp_step(conn: Connection | asyncpg.Pool, sub: str, step: int) -> bool:
    """Record ``step`` as the user's last TOTP step, unless it (or a later one) was already
    used: of two logins racing with one code, only one gets True."""
    result = await conn.execute(
        "UPDATE users SET totp_last_step = $2"
        " WHERE sub = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        sub, step,
    )
    return result.endswith(" 1")


@dataclass(frozen=True)
class Entry:
    """A user as the operator sees them: no password or code hash, no TOTP secret."""

    sub: str
    username: str
    email: str | None
    phone_number: str | None
    claims: dict[str, Any]
    created_at: datetime
    disabled_at: datetime | None
    has_user_code: bool
    has_totp: bool


_ENTRY = ("sub, username, email, phone_number, claims, created_at, disabled_at,"
          " user_code_hash IS NOT NULL AS has_user_code, totp_secret_enc IS NOT NULL AS has_totp")


async def entry(conn: Connection | asyncpg.Pool, username: str) -> Entry | None:
    row = await conn.fetchrow(f"SELECT {_ENTRY} FROM users WHERE username = $1", username)
    return Entry(**dict(row)) if row else None


async def list_entries(conn: Connection | asyncpg.Pool, *, search: str | None, disabled: bool | None,
                       limit: int) -> list[Entry]:
    """Users by username, optionally those whose username, email or phone contains ``search``
    and those (not) disabled."""
    rows = await conn.fetch(
        f"""SELECT {_ENTRY} FROM users
             WHERE ($1::text IS NULL OR strpos(lower(username), lower($1)) > 0
                    OR strpos(lower(coalesce(email, '')), lower($1)) > 0 OR strpos(coalesce(phone_number, ''), $1) > 0)
               AND ($2::boolean IS NULL OR (disabled_at IS NOT NULL) = $2)
             ORDER BY username LIMIT $3""",
        search, disabled, limit,
    )
    return [Entry(**dict(row)) for row in rows]


async def set_password(conn: Connection | asyncpg.Pool, username: str, password_hash: str) -> bool:
    result = await conn.execute("UPDATE users SET password_hash = $2 WHERE username = $1", username, password_hash)
    return result.endswith(" 1")


async def set_disabled(conn: Connection, username: str, at: datetime | None) -> str | None:
    """Disable the user from ``at`` (None: enable them again); their sub, or None when there is
    no such user. The row stays locked until the caller's transaction ends."""
    sub: str | None = await conn.fetchval("UPDATE users SET disabled_at = $2 WHERE username = $1 RETURNING sub",
                                          username, at)
    return sub


async def remove(conn: Connection | asyncpg.Pool, username: str) -> bool:
    """Delete the user with their requests, devices and history (the foreign keys cascade)."""
    result = await conn.execute("DELETE FROM users WHERE username = $1", username)
    return result.endswith(" 1")
