"""Helpers for the periodic loops of background services."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from shared.logging import get_logger

log = get_logger("ciba.loops")

T = TypeVar("T")


class NotYet(Exception):
    """Raised by an attempt of ``retry_until`` whose peer answered but is not ready yet."""


class GaveUp(Exception):
    """``retry_until`` ran out of time; the message is why the last attempt failed."""


async def retry_until(attempt: Callable[[], Awaitable[T]], *, timeout: float,
                      retry_on: tuple[type[BaseException], ...], event: str | None = None,
                      first_delay: float = 0.5, max_delay: float = 5.0) -> T:
    """Call ``attempt`` until it returns, waiting with doubling back-off after each failure
    that is one of ``retry_on`` (or NotYet), and logging ``event`` with the reason when named.
    Raises GaveUp once the next try would fall past ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = first_delay
    retryable: tuple[type[BaseException], ...] = (NotYet, *retry_on)
    while True:
        try:
            return await attempt()
        except retryable as exc:
            reason = str(exc)[:200] or type(exc).__name__
        if loop.time() + delay > deadline:
            raise GaveUp(reason)
        if event is not None:
            log.warning(event, error=reason, retry_in=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)


async def wait_or_stop(stop: asyncio.Event, timeout: float, wake: asyncio.Event | None = None) -> None:
    """Sleep up to ``timeout`` seconds, returning early when ``stop`` (or ``wake``) is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def run_periodically(stop: asyncio.Event, name: str, work: Callable[[], Awaitable[Any]],
                           interval: Callable[[], float]) -> None:
    """Run ``work`` every ``interval()`` seconds until ``stop``; a failed round is logged and
    the next one runs on time (the database may be back by then)."""
    while not stop.is_set():
        try:
            await work()
        except Exception as exc:
            log.warning(f"{name}_failed", error=str(exc)[:200] or type(exc).__name__)
        await wait_or_stop(stop, interval())
