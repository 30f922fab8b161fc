"""The end-to-end fixtures: the four services as subprocesses, a webhook receiver, a relying
party speaking HTTP, and users created with ciba-admin."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.backing import Backing, fresh_backing
from tests.support.callback import CallbackServer
from tests.support.rp import RelyingParty
from tests.support.stack import Stack
from tests.support.tls import TestPKI
from tests.support.webhook import WebhookReceiver

WEBHOOK_SECRET = "test-webhook-secret"
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Account:
    sub: str
    username: str
    email: str
    phone: str
    password: str = PASSWORD


def webhook_notification(webhook: WebhookReceiver) -> dict:
    """The suite's default notification configuration: the local webhook receiver."""
    return {"notifier": "webhook", "webhook": {"url": webhook.url, "secret": WEBHOOK_SECRET, "timeout": 5}}


async def use_notification_config(stack: Stack, config: dict) -> None:
    """Set cibaEndUserNotificationConfig and wait until the notifier applied it."""
    reloads = sum(1 for line in stack.log_lines("notifier") if line.get("event") == "config_reloaded")
    stack.admin("config", "set", "cibaEndUserNotificationConfig", json.dumps(config))
    for _ in range(100):
        if sum(1 for line in stack.log_lines("notifier") if line.get("event") == "config_reloaded") > reloads:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the notifier did not reload its configuration")


@pytest.fixture
async def notification_config(stack: Stack, webhook: WebhookReceiver):
    """Change the notification configuration for one test; the webhook comes back after it."""
    yield lambda config: use_notification_config(stack, config)
    await use_notification_config(stack, webhook_notification(webhook))


@contextmanager
def stack_of_its_own(server_urls, name: str, webhook: WebhookReceiver, pki: TestPKI,
                     tmp_path_factory: pytest.TempPathFactory, **extra_env: str) -> Iterator[Stack]:
    """A started stack on a database and namespace of its own, for a module whose assertions
    must see only its own flows (metrics, traces); notifications go to the webhook."""
    with fresh_backing(server_urls, name) as backing:
        stack = Stack(backing.database_url, backing.amqp_url, backing.namespace,
                      tmp_path_factory.mktemp(f"{name}-logs"),
                      extra_env={"CIBA_OUTBOUND_CA_BUNDLE": str(pki.ca_file), **extra_env})
        stack.admin("config", "set", "cibaEndUserNotificationConfig", json.dumps(webhook_notification(webhook)))
        try:
            stack.start_all()
            yield stack
        finally:
            stack.stop_all()


@pytest.fixture(scope="session")
def e2e_backing(server_urls) -> Iterator[Backing]:
    """The processes get a database and namespace of their own, so in-process tests that
    move a frozen clock never race the real request-processor's sweep."""
    with fresh_backing(server_urls, "e2e") as created:
        yield created


@pytest.fixture(scope="session")
def stack(e2e_backing: Backing, webhook: WebhookReceiver, callbacks: CallbackServer, pki: TestPKI,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log_dir: Path = tmp_path_factory.mktemp("logs")
    stack = Stack(e2e_backing.database_url, e2e_backing.amqp_url, e2e_backing.namespace, log_dir,
                  extra_env={"CIBA_OUTBOUND_CA_BUNDLE": str(pki.ca_file)})
    stack.admin("config", "set", "cibaEndUserNotificationConfig", json.dumps(webhook_notification(webhook)))
    stack.admin("config", "set", "backchannelRequestsProcessorJobIntervalSec", "0.2")
    stack.admin("config", "set", "cibaNotificationMaxAttempts", "3")
    stack.start_all()
    try:
        yield stack
    finally:
        codes = stack.stop_all()
        print(f"service exit codes: {codes}; logs in {log_dir}")


@asynccontextmanager
async def relying_party(stack: Stack) -> AsyncIterator[RelyingParty]:
    """A relying party speaking HTTP to ``stack``, closed afterwards."""
    party = RelyingParty(stack.issuer)
    try:
        yield party
    finally:
        await party.close()


@pytest.fixture
async def rp(stack: Stack) -> AsyncIterator[RelyingParty]:
    async with relying_party(stack) as party:
        yield party


def make_user(stack: Stack) -> Account:
    name = f"user-{uuid.uuid4().hex[:10]}"
    email = f"{name}@example.com"
    phone = f"+1555{uuid.uuid4().int % 10**10:010d}"
    created = stack.admin("user", "add", name, "--password-stdin", "--email", email,
                          "--phone", phone, "--claim", "name=Test User", input=f"{PASSWORD}\n")
    return Account(created["sub"], name, email, phone)


@pytest.fixture
def user(stack: Stack) -> Account:
    return make_user(stack)


@pytest.fixture
def other_user(stack: Stack) -> Account:
    return make_user(stack)
