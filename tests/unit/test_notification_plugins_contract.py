"""What the notifier makes of a plugin that misbehaves, and the plugins' own log channel."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import aiohttp
import pytest
import structlog

from services.notifier.notify_user import notifier_names, run_plugin
from services.notifier.plugins.base import NotificationContext, NotificationResult
from shared.logging import NOTIFICATION_LOGGER, auth_req_fingerprint, bind_request, configure_logging
from tests.support.notification_context import notification_context


def _context(session: aiohttp.ClientSession) -> NotificationContext:
    return notification_context(http=session)


class Raising:
    name = "raising"

    async def notify(self, ctx: NotificationContext) -> NotificationResult:
        raise RuntimeError("the provider SDK blew up")


class Slow:
    name = "slow"

    async def notify(self, ctx: NotificationContext) -> NotificationResult:
        await asyncio.sleep(10)
        return NotificationResult.sent()


async def test_a_plugin_that_raises_has_failed_and_will_be_retried() -> None:
    async with aiohttp.ClientSession() as session:
        result = await run_plugin(Raising(), _context(session), timeout=1)
    assert (result.ok, result.permanent) == (False, False)
    assert "RuntimeError" in result.detail


async def test_a_plugin_that_runs_past_the_timeout_has_failed_and_will_be_retried() -> None:
    async with aiohttp.ClientSession() as session:
        result = await run_plugin(Slow(), _context(session), timeout=0.05)
    assert (result.ok, result.permanent) == (False, False)
    assert "timed out" in result.detail


@pytest.mark.parametrize(("config", "names"), [
    ({"notifier": "log"}, ["log"]),
    ({"notifier": ["fcm", "email"]}, ["fcm", "email"]),
])
def test_one_plugin_or_a_list_tried_in_order(config, names) -> None:
    assert notifier_names(config) == names


def test_the_plugins_log_channel_can_have_a_file_of_its_own(tmp_path) -> None:
    log_file = tmp_path / "notifications.log"
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("notifier", "json", "info", stream=io.StringIO(), notification_log_file=str(log_file))
        with bind_request(auth_req_id="abc123"):
            structlog.get_logger(NOTIFICATION_LOGGER).info("end_user_notified", notifier="webhook")
            structlog.get_logger("ciba.consumer").info("something_else")
        lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        structlog.reset_defaults()
    assert [(line["event"], line["auth_req"], line["service"]) for line in lines] == [
        ("end_user_notified", auth_req_fingerprint("abc123"), "notifier")]
