"""When to poll the token endpoint (CIBA Core 7.3 and 11), as arithmetic on monotonic seconds,
so the rules are tested without waiting.

- Polls are at least ``interval`` apart (5 s when the provider names none), counted from the
  start of the previous poll, so a long poll held for 30 s is followed at once by the next.
- ``slow_down`` adds 5 s to the interval for this and every later poll.
- A long poll asks to be held (``Prefer: wait``) no longer than the request has left to live.
- No poll starts after the request's expiry except one: the first poll due at or after it reads
  the final state, so an approval in the last seconds is not lost. After that, ``wait`` stops.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ciba_client.errors import AuthorizationPending, ExpiredToken, SlowDown, TemporarilyUnavailable
from ciba_client.tokens import TokenResponse

DEFAULT_INTERVAL_SEC = 5  # CIBA 7.3
SLOW_DOWN_STEP_SEC = 5  # CIBA 11


@dataclass
class PollSchedule:
    deadline: float
    interval: float = DEFAULT_INTERVAL_SEC
    spacing: float = 0.0  # wider gaps than the interval (ping clients poll only as a fallback)
    max_wait: int | None = None  # the longest Prefer: wait to ask for; None: no long polling
    final: bool = False

    def first_poll(self, at: float) -> float:
        """When to poll first: at once, or after ``spacing`` (a ping client waits for its ping)."""
        if at + self.spacing >= self.deadline:
            self.final = True
            return max(at, self.deadline)
        return at + self.spacing

    def prefer_wait(self, at: float) -> int | None:
        """The ``Prefer: wait`` of a poll starting at ``at``, or None to send none."""
        remaining = self.deadline - at
        if not self.max_wait or remaining < 1:
            return None
        return min(self.max_wait, math.ceil(remaining))

    def after_poll(self, started: float, *, slow_down: bool = False, retry_after: float = 0.0) -> float | None:
        """When to poll next after a poll that started at ``started`` and left the request
        pending; None when that poll was the last one."""
        if slow_down:
            self.interval += SLOW_DOWN_STEP_SEC
        if self.final:
            return None
        due = started + max(self.interval, self.spacing, retry_after)
        if due >= self.deadline:
            self.final = True
            return max(self.deadline, started + max(self.interval, retry_after))
        return due


async def poll_until_decided(poll: Callable[[int | None], Awaitable[TokenResponse]], schedule: PollSchedule, *,
                             pinged: asyncio.Event | None = None) -> TokenResponse:
    """Poll on ``schedule`` (``poll`` takes the ``Prefer: wait`` to send) until the tokens come;
    a ping (``pinged`` set) brings the next poll forward. Raises the poll's final error, or
    ExpiredToken once the schedule has no poll left."""
    due = schedule.first_poll(time.monotonic())
    while True:
        await _sleep_until(due, pinged)
        started = time.monotonic()
        slow_down, retry_after = False, 0.0
        try:
            return await poll(schedule.prefer_wait(started))
        except AuthorizationPending:
            pass
        except SlowDown:
            slow_down = True
        except TemporarilyUnavailable as exc:
            retry_after = exc.retry_after or 0.0
        next_due = schedule.after_poll(started, slow_down=slow_down, retry_after=retry_after)
        if next_due is None:
            raise ExpiredToken("the request expired before the user decided (by the client's clock)")
        due = next_due


async def _sleep_until(due: float, wake: asyncio.Event | None) -> None:
    """Sleep until ``due``, or until a ping arrives (a ping means: the outcome is ready)."""
    delay = due - time.monotonic()
    if wake is None:
        if delay > 0:
            await asyncio.sleep(delay)
        return
    if not wake.is_set() and delay > 0:
        try:
            await asyncio.wait_for(wake.wait(), delay)
        except TimeoutError:
            pass
    wake.clear()
