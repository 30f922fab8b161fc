"""ciba-notifier: reaches the user on their authentication device for each new request."""

from __future__ import annotations

import asyncio

import aiohttp

from services.notifier.notify_user import NotifyUser
from shared.bus.service import consume_until_stopped
from shared.runtime import Runtime, run_service

SERVICE = "notifier"


async def body(rt: Runtime, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30), headers={"User-Agent": "ciba-notifier"}
    ) as http:
        handler = NotifyUser(rt, http)
        await consume_until_stopped(rt, stop, handler,
                                    lambda: rt.config.cibaNotificationMaxAttempts)


def main() -> None:
    run_service(SERVICE, body)


if __name__ == "__main__":
    main()
