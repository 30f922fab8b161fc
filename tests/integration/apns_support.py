"""Shared by the ``apns`` plugin tests (test_apns_plugin_*.py): the monotonic and wall clocks the
plugin and the fake read, a local fake of Apple's provider API (tests.support.fake_apns) with a
provider key it trusts, the plugin, and the notification context the plugin is handed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog

from services.notifier.plugins.apns import ApnsNotifier
from services.notifier.plugins.base import NotificationContext, RegisteredDevice
from tests.support.fake_apns import ApnsKey, FakeApns
from tests.support.notification_context import NOTIFICATION_ID, notification_context
from tests.support.tls import TestPKI as PKI
from tests.support.tls import make_pki


class Clocks:
    """The notifier's monotonic clock and the wall clock both sides read (the fake judges iat
    by it). A machine that sleeps moves the wall clock but not the monotonic one."""

    def __init__(self) -> None:
        self.monotonic_now = 1000.0
        self.wall_offset = 0.0

    def monotonic(self) -> float:
        return self.monotonic_now

    def wall(self) -> float:
        return time.time() + self.wall_offset

    def advance(self, seconds: float) -> None:
        self.monotonic_now += seconds
        self.wall_offset += seconds


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("apns-pki"))


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
async def fake(pki: PKI, clocks: Clocks) -> AsyncIterator[FakeApns]:
    server = FakeApns(pki, clock=clocks.wall)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def key(fake: FakeApns) -> ApnsKey:
    return fake.provider_key()


@pytest.fixture
async def plugin(clocks: Clocks) -> AsyncIterator[ApnsNotifier]:
    notifier = ApnsNotifier(clock=clocks.monotonic, wall_clock=clocks.wall)
    yield notifier
    await notifier.aclose()


def context(config: dict[str, Any], devices: list[RegisteredDevice], *, notification_id: str = NOTIFICATION_ID,
            binding_message: str | None = "Pay 42 EUR") -> NotificationContext:
    # http stays None: the plugin keeps its own HTTP/2 client.
    return notification_context(notification_id=notification_id, binding_message=binding_message, devices=devices,
                                config=config, log=structlog.get_logger("ciba.notification").bind(notifier="apns"))
