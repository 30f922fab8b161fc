"""ciba-notifier: reaches the user on their authentication device for each new request."""

from __future__ import annotations

import asyncio

import aiohttp

from services.notifier.notify_user import NotifyUser, notifier_names
from services.notifier.plugins.registry import BUILT_IN
from shared import metrics, tracing
from shared.bus.service import consume_until_stopped
from shared.logging import get_logger
from shared.runtime import Runtime, run_service

SERVICE = "notifier"
log = get_logger("ciba.notifier")


async def body(rt: Runtime, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30), headers={"User-Agent": "ciba-notifier"},
        middlewares=tracing.client_middlewares(),
    ) as http:
        handler = NotifyUser(rt, http)
        metrics.plugins_known([*BUILT_IN, *notifier_names(rt.config.cibaEndUserNotificationConfig)])
        if not rt.settings.development and "log" in notifier_names(rt.config.cibaEndUserNotificationConfig):
            log.warning("log_notifier_in_production",
                        advice="the log plugin writes sign-in links to the log; configure a real notifier")
        await consume_until_stopped(rt, stop, handler,
                                    lambda: rt.config.cibaNotificationMaxAttempts)


def main() -> None:
    run_service(SERVICE, body)


if __name__ == "__main__":
    main()
