"""A notification plugin from another installed package, found through its entry point in the
group ``ciba.notifiers``: examples/ciba-notifier-example (installed by ``make venv``)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.notifier.plugins.base import NotificationContext
from services.notifier.plugins.registry import BUILT_IN, ENTRY_POINT_GROUP, NotifierRegistry
from tests.support.notification_context import notification_context

NAME = "example-file"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def context(http: aiohttp.ClientSession, config: dict[str, Any], **changes: Any) -> NotificationContext:
    return notification_context(**{
        "notification_id": "0b6d0c55-3f0e-4c57-9d1c-2f4f6a0c9e21",
        "authorization_url": "https://as.example.com/device/a2lvc2stZGVtbw",
        "binding_message": "Kiosk 4: Pay 12 EUR", "client_name": "Café Kiosk", "scope": ["openid"],
        "config": config, "http": http, **changes})


def test_the_example_plugin_is_declared_as_an_entry_point():
    found = {entry.name: entry.value for entry in entry_points(group=ENTRY_POINT_GROUP)}

    assert found.get(NAME) == "ciba_notifier_example:FileNotifier", (
        "examples/ciba-notifier-example is not installed: run `make venv` "
        "(or `.venv/bin/pip install -e examples/ciba-notifier-example`)")


def test_the_registry_loads_it_through_the_entry_point():
    plugin = NotifierRegistry().get(NAME)

    assert NAME not in BUILT_IN
    assert type(plugin).__module__ == "ciba_notifier_example"
    assert type(plugin).__name__ == "FileNotifier"
    assert plugin.name == NAME


async def test_notify_appends_one_json_line_per_notification(tmp_path: Path, http):
    path = tmp_path / "ciba-notifications.jsonl"
    plugin = NotifierRegistry().get(NAME)

    first = await plugin.notify(context(http, {"path": str(path)}))
    second = await plugin.notify(context(http, {"path": str(path)}, notification_id="n-2", binding_message=None))

    assert first.ok and second.ok, (first.detail, second.detail)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"notification_id": "0b6d0c55-3f0e-4c57-9d1c-2f4f6a0c9e21", "username": "alice",
         "client_name": "Café Kiosk", "binding_message": "Kiosk 4: Pay 12 EUR",
         "authorization_url": "https://as.example.com/device/a2lvc2stZGVtbw",
         "expires_at": "2030-01-02T03:04:05Z"},
        {"notification_id": "n-2", "username": "alice", "client_name": "Café Kiosk", "binding_message": None,
         "authorization_url": "https://as.example.com/device/a2lvc2stZGVtbw",
         "expires_at": "2030-01-02T03:04:05Z"},
    ]
    # The lines carry sign-in links: only the notifier's user may read them.
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("config", [{}, {"path": ""}, {"path": 42}])
async def test_without_a_path_it_fails_for_good(http, config):
    result = await NotifierRegistry().get(NAME).notify(context(http, config))

    assert not result.ok and result.permanent


async def test_a_missing_directory_fails_for_good(tmp_path: Path, http):
    result = await NotifierRegistry().get(NAME).notify(context(http, {"path": str(tmp_path / "no" / "x.jsonl")}))

    assert not result.ok and result.permanent
