"""Helpers for the periodic loops of background services."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from shared.logging import get_logger

log = get_logger("ciba.loops")


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
