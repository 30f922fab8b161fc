"""Deleting what has outlived its use, in chunks any number of request-processors share
(``FOR UPDATE SKIP LOCKED``): finished requests (their history, attempts and device links
cascade) leaving an audit row each, expired or revoked tokens, and old audit rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Connection
from shared.domain.auth_request import FINISHED


async def archive_finished_requests(conn: Connection | asyncpg.Pool, cutoff: datetime, limit: int,
                                    now: datetime) -> int:
    """Up to ``limit`` requests created before ``cutoff`` and no longer pending: an audit row
    each, then deleted, in one statement. An approved request nobody redeemed counts as
    finished: its grant ended minutes after its expiry."""
    count: int = await conn.fetchval(
        """WITH doomed AS (
               SELECT id FROM auth_requests
                WHERE created_at < $1 AND status = ANY($4::text[])
                LIMIT $2 FOR UPDATE SKIP LOCKED),
           audited AS (
               INSERT INTO auth_request_audit (id, client_id, sub, delivery_mode, status, scope, acr, failure_reason,
                                               created_at, decided_at, tokens_issued_at, archived_at)
               SELECT r.id, r.client_id, r.sub, r.delivery_mode, r.status, r.scope, r.acr, r.failure_reason,
                      r.created_at, r.decided_at, r.tokens_issued_at, $3
                 FROM auth_requests r WHERE r.id IN (SELECT id FROM doomed)
               ON CONFLICT (id) DO NOTHING),
           deleted AS (
               DELETE FROM auth_requests WHERE id IN (SELECT id FROM doomed) RETURNING 1)
           SELECT count(*) FROM deleted""",
        cutoff, limit, now, list(FINISHED),
    )
    return count


async def delete_spent_tokens(conn: Connection | asyncpg.Pool, cutoff: datetime, limit: int) -> int:
    """Up to ``limit`` tokens that expired or were revoked before ``cutoff``. (Both imply
    they were issued before it, which lets the BRIN index on issued_at narrow the scan.)"""
    count: int = await conn.fetchval(
        """WITH deleted AS (
               DELETE FROM tokens WHERE id IN (
                   SELECT id FROM tokens
                    WHERE issued_at < $1 AND (expires_at < $1 OR revoked_at < $1)
                    LIMIT $2 FOR UPDATE SKIP LOCKED)
               RETURNING 1)
           SELECT count(*) FROM deleted""",
        cutoff, limit,
    )
    return count


async def delete_old_audit(conn: Connection | asyncpg.Pool, cutoff: datetime, limit: int) -> int:
    count: int = await conn.fetchval(
        """WITH deleted AS (
               DELETE FROM auth_request_audit WHERE id IN (
                   SELECT id FROM auth_request_audit WHERE created_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
               RETURNING 1)
           SELECT count(*) FROM deleted""",
        cutoff, limit,
    )
    return count


async def audit_of(conn: Connection | asyncpg.Pool, request_id: object) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM auth_request_audit WHERE id = $1", request_id)
    return dict(row) if row else None
