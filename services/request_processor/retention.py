"""Retention: what an identity server that runs for years must not keep for ever.

Every few minutes, in chunks that replicas share (``FOR UPDATE SKIP LOCKED``):

- requests finished more than ``cibaRetentionDays`` ago are deleted, with their history,
  notification and delivery attempts and device links (the foreign keys cascade), each leaving
  one row in ``auth_request_audit``: client, user, mode, final state, scope, acr and times;
- tokens that expired or were revoked more than ``cibaRetentionDays`` ago are deleted;
- audit rows older than ``cibaAuditRetentionDays`` are deleted.

(Used jtis, sign-in counters and poll stamps are dropped sooner, by housekeeping, as soon as
they can no longer matter.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import asyncpg

from shared import metrics
from shared.clock import Clock
from shared.config.model import ServerConfig
from shared.logging import get_logger
from shared.loops import run_periodically
from shared.repositories import retention

INTERVAL_SEC = 300.0
CHUNK = 1000
# Chunks per table per run: a backlog (retention switched on over years of rows) is worked
# off over several runs instead of one long burst of deletes.
MAX_CHUNKS = 50
log = get_logger("ciba.retention")


async def _in_chunks(step: Callable[[], Awaitable[int]]) -> int:
    total = 0
    for _ in range(MAX_CHUNKS):
        deleted = await step()
        total += deleted
        if deleted < CHUNK:
            break
    return total


async def clean_once(pool: asyncpg.Pool, config: ServerConfig, now: datetime) -> dict[str, int]:
    """One pass; the rows deleted per table."""
    cutoff = now - timedelta(days=config.cibaRetentionDays)
    audit_cutoff = now - timedelta(days=config.cibaAuditRetentionDays)
    deleted = {
        "auth_requests": await _in_chunks(lambda: retention.archive_finished_requests(pool, cutoff, CHUNK, now)),
        "tokens": await _in_chunks(lambda: retention.delete_spent_tokens(pool, cutoff, CHUNK)),
        "auth_request_audit": await _in_chunks(lambda: retention.delete_old_audit(pool, audit_cutoff, CHUNK)),
    }
    for table, count in deleted.items():
        if count:
            metrics.RETENTION_DELETED.labels(table).inc(count)
    if any(deleted.values()):
        log.info("retention_done", **deleted)
    return deleted


async def run(pool: asyncpg.Pool, clock: Clock, config: Callable[[], ServerConfig], stop: asyncio.Event) -> None:
    await run_periodically(stop, "retention", lambda: clean_once(pool, config(), clock.now()), lambda: INTERVAL_SEC)
