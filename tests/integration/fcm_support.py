"""Shared by the ``fcm`` plugin tests (test_fcm_plugin_*.py): a local fake of Google's token
endpoint and FCM's HTTP v1 API (tests.support.fake_fcm) with a service account it knows, an
HTTP session, and the notification context the plugin is handed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog

from services.notifier.plugins.base import NotificationContext, RegisteredDevice
from tests.support.fake_fcm import FakeFcm
from tests.support.notification_context import NOTIFICATION_ID, notification_context


@pytest.fixture
async def fake() -> AsyncIterator[FakeFcm]:
    server = FakeFcm()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
def account(fake: FakeFcm) -> dict[str, Any]:
    return fake.service_account(project_id="ciba-test")


def context(session: aiohttp.ClientSession, config: dict[str, Any], devices: list[RegisteredDevice],
            *, notification_id: str = NOTIFICATION_ID,
            binding_message: str | None = "Pay 42 EUR") -> NotificationContext:
    return notification_context(notification_id=notification_id, binding_message=binding_message, devices=devices,
                                config=config, http=session,
                                log=structlog.get_logger("ciba.notification").bind(notifier="fcm"))
