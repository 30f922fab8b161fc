"""Housekeeping: drop records whose only purpose has passed.

- used jtis past their expiry (a replay after that is refused by the JWT's own exp);
- DPoP proofs seen, once their iat is older than dpopProofMaxAgeSec (the iat check refuses
  them from then on);
- processed-event ids older than PROCESSED_EVENTS_KEPT_DAYS (no message is redelivered that
  late: retries end within the request's lifetime);
- sign-in attempt counters whose window has passed (a flood of made-up usernames leaves one
  row each);
- poll stamps older than POLL_MARKS_KEPT_DAYS (no request lives that long).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import asyncpg

from shared.clock import Clock
from shared.domain.attempts_limit import WINDOW
from shared.logging import get_logger
from shared.loops import run_periodically
from shared.repositories import auth_requests, dpop_proofs, jtis, processed_events, throttle

INTERVAL_SEC = 60.0
PROCESSED_EVENTS_KEPT_DAYS = 7
POLL_MARKS_KEPT_DAYS = 2
log = get_logger("ciba.housekeeping")


async def clean_once(pool: asyncpg.Pool, now: datetime) -> None:
    purged_jtis = await jtis.purge_expired(pool, now)
    purged_proofs = await dpop_proofs.purge_expired(pool, now)
    purged_events = await processed_events.purge_older_than(pool, now - timedelta(days=PROCESSED_EVENTS_KEPT_DAYS))
    purged_counters = await throttle.purge_older_than(pool, now - WINDOW)
    purged_marks = await auth_requests.purge_poll_marks(pool, now - timedelta(days=POLL_MARKS_KEPT_DAYS))
    if purged_jtis or purged_proofs or purged_events or purged_counters or purged_marks:
        log.info("housekeeping_done", jtis=purged_jtis, dpop_proofs=purged_proofs, processed_events=purged_events,
                 login_throttle=purged_counters, poll_marks=purged_marks)


async def run(pool: asyncpg.Pool, clock: Clock, stop: asyncio.Event) -> None:
    await run_periodically(stop, "housekeeping", lambda: clean_once(pool, clock.now()), lambda: INTERVAL_SEC)
