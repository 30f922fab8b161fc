"""Helpers for the periodic loops of background services."""

from __future__ import annotations

import asyncio


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
