"""Recovery of requests whose AuthRequestCreated was never handled.

A message can be lost (a broker that lost its disk) or dead-lettered (a notifier bug). Every
job interval this finds pending requests older than cibaNotificationRecoveryAfterSec with no
notification attempt and nothing waiting in the outbox, and writes a fresh created event for
each (at most MAX_REANNOUNCE times per request). The notifier skips a request it already
notified, so a merely late event costs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from shared.clock import Clock
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.domain import lifecycle
from shared.domain.auth_request import auth_req_id_of
from shared.logging import bind_request, get_logger
from shared.loops import run_periodically

MAX_REANNOUNCE = 3
log = get_logger("ciba.recovery")


async def recover_once(pool: asyncpg.Pool, secrets: Secrets, config: ServerConfig, now: datetime) -> int:
    async with pool.acquire() as conn:
        lost = await lifecycle.reannounce_lost(
            conn, now=now, created_before=now - timedelta(seconds=config.cibaNotificationRecoveryAfterSec),
            max_reannounce=MAX_REANNOUNCE, limit=config.backchannelRequestsProcessorJobChunkSize)
    for request in lost:
        with bind_request(auth_req_id=auth_req_id_of(secrets, request)):
            log.warning("auth_request_reannounced", reannounced=request.reannounced)
    return len(lost)


async def run(pool: asyncpg.Pool, secrets: Secrets, clock: Clock, config: Callable[[], ServerConfig],
              stop: asyncio.Event) -> None:
    await run_periodically(stop, "recovery", lambda: recover_once(pool, secrets, config(), clock.now()),
                           lambda: max(config().backchannelRequestsProcessorJobIntervalSec, 1.0))
