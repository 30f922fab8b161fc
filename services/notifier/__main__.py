"""ciba-notifier: reaches the user on their authentication device for each new request."""

from __future__ import annotations

import asyncio

import aiohttp

from services.notifier.notify_user import NotifyUser, notifier_names
from services.notifier.plugins.registry import BUILT_IN, NotifierRegistry
from services.notifier.stores import PostgresNotifications
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
        handler = NotifyUser(PostgresNotifications(rt.pool, consumer=NotifyUser.consumer), NotifierRegistry(), http,
                             secrets=rt.secrets, clock=rt.clock, config=rt.current_config, issuer=rt.settings.issuer,
                             service=rt.service)
        names = notifier_names(rt.config.cibaEndUserNotificationConfig)
        metrics.plugins_known([*BUILT_IN, *names])
        if not rt.settings.development and "log" in names:
            log.warning("log_notifier_in_production",
                        advice="the log plugin writes sign-in links to the log; configure a real notifier")
        await consume_until_stopped(rt, stop, handler, lambda: rt.config.cibaNotificationMaxAttempts)


def main() -> None:
    run_service(SERVICE, body)


if __name__ == "__main__":
    main()
