"""Shared by the ``email`` plugin tests (test_email_plugin_*.py): a real SMTP submission server
(aiosmtpd on 127.0.0.1) that requires STARTTLS with a certificate from a throwaway CA and AUTH
after STARTTLS, the plugin's configuration for a server, and the notification context (with an
HTTP session of its own, in place of the gateway's ``http``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from services.notifier.plugins.base import NotificationContext, NotifiedUser
from tests.support.notification_context import notification_context
from tests.support.smtp import SmtpServer, smtp_server
from tests.support.tls import TestPKI as PKI
from tests.support.tls import make_pki

USERNAME = "ciba-mailer"
PASSWORD = "pw-Qx7!never-in-logs"
RECIPIENT = "alice@example.com"
AUTHORIZATION_URL = "https://as.example.com/device/c2VjcmV0LXJlZmVyZW5jZQ"
EXPIRES_AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("smtp-pki"))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def server(pki: PKI) -> AsyncIterator[SmtpServer]:
    """A submission server: STARTTLS required, AUTH required and only after STARTTLS."""
    async with smtp_server(pki.server_context(), users={USERNAME: PASSWORD},
                           rcpt_answers={"gone@example.com": "550 5.1.1 <gone@example.com>: no such user",
                                         "busy@example.com": "451 4.3.0 Mailbox busy, try later"}) as box:
        yield box


def config_for(box: SmtpServer, pki: PKI | None, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"host": box.host, "port": box.port, "from": "CIBA <no-reply@as.example.com>",
                              "username": USERNAME, "password": PASSWORD, "timeout": 5}
    if pki is not None:
        config["ca_file"] = str(pki.ca_file)
    config.update(overrides)
    return config


def context(http: aiohttp.ClientSession, config: dict[str, Any], **changes: Any) -> NotificationContext:
    return notification_context(**{
        "authorization_url": AUTHORIZATION_URL, "binding_message": "Pay 42 EUR #7731",
        "user": NotifiedUser("sub-alice", "alice", RECIPIENT, "+15550100"), "config": config, "http": http,
        **changes})
