"""The notifier without Postgres or a provider: which outcomes of the configured plugins reach
the user, which are retried and which give up, through fakes of NotifyUser's ports."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid4

import asyncpg
import pytest
from cryptography.fernet import Fernet

from services.notifier.notify_user import NotifyUser
from services.notifier.plugins.base import NotificationContext, NotificationResult, Notifier
from services.notifier.plugins.registry import UnknownNotifier
from services.notifier.queries import Claim, DeviceRow, InHand, Sent
from shared.bus.consumer import AlreadyProcessed, Delivery, GiveUp, RetryLater
from shared.clock import FrozenClock
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.events import AuthRequestCreated

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
SECRETS = Secrets(Fernet.generate_key())
ISSUER = "https://as.example.com"
DEVICE = uuid4()

SENT = NotificationResult.sent("ok")
TRANSIENT = NotificationResult.failed("provider unavailable")
PERMANENT = NotificationResult.failed("no email address", permanent=True)
RAISES = RuntimeError("plugin bug")


def in_hand(request_id: UUID) -> InHand:
    return InHand(request_id=request_id, sub="sub-alice", scope=["openid"], acr_values=None,
                  binding_message="Pay 42 EUR", expires_at=NOW + timedelta(minutes=2), created_at=NOW,
                  username="alice", email="alice@example.com", phone_number=None, client_name="Shop",
                  devices=[DeviceRow(DEVICE, SECRETS.encrypt("device-token"), NOW)], ui_locales="fr en")


@dataclasses.dataclass
class FakeNotifications:
    granted: bool = True
    recorded_first: bool = True
    claims: list[Claim] = dataclasses.field(default_factory=list)
    holds: list[timedelta] = dataclasses.field(default_factory=list)
    sent: list[Sent] = dataclasses.field(default_factory=list)
    attempts: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    released: list[UUID] = dataclasses.field(default_factory=list)
    forgotten: list[UUID] = dataclasses.field(default_factory=list)

    async def take_in_hand(self, claims: list[Claim], *, now: datetime, hold: timedelta) -> list[InHand | None]:
        self.claims += claims
        self.holds.append(hold)
        return [in_hand(claim.request_id) if self.granted else None for claim in claims]

    async def why_not(self, message_id: UUID, request_id: UUID) -> str:
        return "already notified"

    async def record_sent(self, sent: list[Sent]) -> list[bool]:
        self.sent += sent
        return [self.recorded_first] * len(sent)

    async def release_claim(self, request_id: UUID) -> None:
        self.released.append(request_id)

    async def forget_devices(self, device_ids: list[UUID], sub: str) -> int:
        self.forgotten += device_ids
        return len(device_ids)

    async def record_attempt(self, request_id: UUID, *, attempt: int, notifier: str, outcome: str, detail: str,
                             at: datetime) -> None:
        self.attempts.append((notifier, outcome))


class Plugin:
    def __init__(self, name: str, outcome: NotificationResult | Exception) -> None:
        self.name = name
        self.outcome = outcome
        self.seen: list[NotificationContext] = []

    async def notify(self, ctx: NotificationContext) -> NotificationResult:
        self.seen.append(ctx)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class FakePlugins:
    def __init__(self, plugins: list[Plugin]) -> None:
        self.plugins = {plugin.name: plugin for plugin in plugins}

    def get(self, name: str) -> Notifier:
        if name not in self.plugins:
            raise UnknownNotifier(f"no notification plugin named {name!r}")
        return self.plugins[name]


@dataclasses.dataclass
class Handled:
    store: FakeNotifications
    plugins: list[Plugin]
    delivery: Delivery
    raised: BaseException | None


async def notify(outcomes: list[NotificationResult | Exception], *, names: list[str] | None = None,
                 store: FakeNotifications | None = None, notification: dict[str, Any] | None = None) -> Handled:
    """A created event handled with plugins ``p0, p1, ...`` answering ``outcomes`` in that order."""
    plugins = [Plugin(f"p{i}", outcome) for i, outcome in enumerate(outcomes)]
    config = ServerConfig(cibaEndUserNotificationConfig=notification or {
        "notifier": names or [p.name for p in plugins]})
    store = store or FakeNotifications()
    handler = NotifyUser(store, FakePlugins(plugins), cast(Any, None), secrets=SECRETS, clock=FrozenClock(NOW),
                         config=lambda: config, issuer=ISSUER, service="notifier")
    event = AuthRequestCreated(request_id=uuid4(), delivery_mode="poll", client_id="c1")
    delivery = Delivery(cast(asyncpg.Pool, None), NotifyUser.consumer, event, 1, 5)
    try:
        await handler.handle(event, delivery)
    except (GiveUp, RetryLater, AlreadyProcessed) as exc:
        return Handled(store, plugins, delivery, exc)
    return Handled(store, plugins, delivery, None)


@pytest.mark.parametrize(("outcomes", "raised", "sent_by", "failed"), [
    ([SENT], None, "p0", []),
    ([TRANSIENT], RetryLater, None, ["p0"]),
    ([PERMANENT], GiveUp, None, ["p0"]),  # retrying cannot fix it: dead-lettered, the request fails
    ([RAISES], RetryLater, None, ["p0"]),  # a plugin that raises has failed, and is retried
    ([PERMANENT, SENT], None, "p1", ["p0"]),  # the fallback reached the user
    ([PERMANENT, TRANSIENT], RetryLater, None, ["p0", "p1"]),  # one failure a retry may fix is enough
    ([PERMANENT, PERMANENT], GiveUp, None, ["p0", "p1"]),
    ([SENT, PERMANENT], None, "p0", []),  # the first that succeeds ends the round
])
async def test_which_outcomes_are_retried(outcomes: list[NotificationResult | Exception],
                                          raised: type[BaseException] | None, sent_by: str | None,
                                          failed: list[str]) -> None:
    handled = await notify(outcomes)
    assert type(handled.raised) is raised if raised else handled.raised is None
    assert [sent.notifier for sent in handled.store.sent] == ([sent_by] if sent_by else [])
    assert handled.delivery.recorded is (sent_by is not None)
    assert handled.store.attempts == [(name, "failed") for name in failed]
    # A failed round hands the request back at once, for the retry (or another event) to claim.
    assert len(handled.store.released) == (0 if sent_by else 1)


async def test_an_unknown_plugin_is_a_failure_worth_a_retry() -> None:
    handled = await notify([], names=["sms"])
    assert isinstance(handled.raised, RetryLater) and "no notification plugin named 'sms'" in str(handled.raised)


async def test_devices_the_provider_calls_dead_are_forgotten_even_on_success() -> None:
    handled = await notify([NotificationResult.sent("1 sent", unregistered_devices=(str(DEVICE),))])
    assert handled.raised is None and handled.store.forgotten == [DEVICE]


async def test_a_request_not_in_hand_reaches_no_plugin() -> None:
    handled = await notify([SENT], store=FakeNotifications(granted=False))
    assert handled.raised is None and handled.plugins[0].seen == [] and handled.store.sent == []


async def test_a_notification_another_delivery_recorded_first_is_already_processed() -> None:
    handled = await notify([SENT], store=FakeNotifications(recorded_first=False))
    assert isinstance(handled.raised, AlreadyProcessed) and not handled.delivery.recorded


async def test_the_plugin_gets_a_device_link_whose_hash_alone_is_stored() -> None:
    handled = await notify([SENT])
    ctx = handled.plugins[0].seen[0]
    prefix = f"{ISSUER}/device/"
    assert ctx.authorization_url.startswith(prefix)
    assert handled.store.claims[0].ref_hash == SECRETS.hash(ctx.authorization_url.removeprefix(prefix))
    assert [(d.id, d.token) for d in ctx.devices] == [(str(DEVICE), "device-token")]
    assert (ctx.user.username, ctx.client_name, ctx.ui_locales) == ("alice", "Shop", ["fr", "en"])


@pytest.mark.parametrize(("notification", "hold_sec"), [
    ({"notifier": "p0"}, 15 + 5),  # one plugin, the default time limit, and a margin
    ({"notifier": ["p0", "p1"], "timeout": 3}, 2 * 3 + 5),  # every plugin of the round may use its time
])
async def test_a_claim_is_held_as_long_as_a_round_may_take(notification: dict[str, Any], hold_sec: int) -> None:
    handled = await notify([SENT, SENT], notification=notification)
    assert handled.store.holds == [timedelta(seconds=hold_sec)]
