"""Password and user_code checks on a bounded pool of their own.

An argon2id check costs about 150 ms of one core and 64 MiB. On the event loop's shared
default executor, a flood of sign-ins with made-up usernames (each still costs a check, so
timing does not tell which accounts exist) queued without bound and delayed every other use
of that executor; twelve in flight took a real sign-in from 0.27 s to 2.5 s. Here the checks
get ``threads`` threads of their own (about one per core), at most ``max_waiting`` more may
wait for one, and past that a check is refused at once with an estimate of when to retry,
which the pages and /bc-authorize turn into 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from shared.passwords import Passwords

U = TypeVar("U")
# Until a check has been timed, assume argon2-cffi's default cost.
INITIAL_CHECK_SEC = 0.15


class ChecksBusy(Exception):
    """Every thread is busy and the waiting line is full."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"password checks are busy; retry after {retry_after} s")
        self.retry_after = retry_after


class PasswordChecks:
    def __init__(self, passwords: Passwords, *, threads: int, max_waiting: int) -> None:
        self.passwords = passwords
        self._threads = threads
        self._capacity = threads + max_waiting
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="password-check")
        self._in_progress = 0  # running plus waiting
        self._check_sec = INITIAL_CHECK_SEC  # moving average of one check's duration

    @property
    def full(self) -> bool:
        return self._in_progress >= self._capacity

    def retry_after(self) -> int:
        """Seconds until the current line has drained, at the observed speed."""
        rounds = max(self._in_progress, 1) / self._threads
        return max(1, math.ceil(rounds * self._check_sec))

    def ensure_capacity(self) -> None:
        """Raise ChecksBusy now, before a caller spends a sign-in attempt on a check that
        would be refused."""
        if self.full:
            raise ChecksBusy(self.retry_after())

    async def verify(self, stored_hash: str | None, secret: str) -> bool:
        return await self._run(self.passwords.verify, stored_hash, secret)

    async def hash(self, secret: str) -> str:
        return await self._run(self.passwords.hash, secret)

    async def _run(self, work: Callable[..., U], *args: object) -> U:
        self.ensure_capacity()
        self._in_progress += 1
        try:
            result, seconds = await asyncio.get_running_loop().run_in_executor(
                self._executor, _timed, work, *args)
            self._check_sec = 0.8 * self._check_sec + 0.2 * seconds
            return result
        finally:
            self._in_progress -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _timed(work: Callable[..., U], *args: object) -> tuple[U, float]:
    """Run in the pool's thread: the check's own duration, without its time in the line."""
    started = time.perf_counter()
    return work(*args), time.perf_counter() - started
