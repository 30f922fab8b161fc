"""The ``apns`` notification plugin against a local fake of Apple's provider API that speaks
the real protocol: HTTP/2 over TLS, ES256 provider tokens (README, "End-user notification").
No database or broker needed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt
from joserfc.jwk import ECKey
from structlog.testing import capture_logs

from services.notifier.plugins.apns import ApnsNotifier
from services.notifier.plugins.base import NotificationContext, RegisteredDevice
from tests.support.fake_apns import DEFAULT_TOPIC, ApnsKey, FakeApns, generate_apns_key
from tests.support.notification_context import EXPIRES_AT, NOTIFICATION_ID, device, notification_context
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


# -- delivering --------------------------------------------------------------------------


async def test_delivers_an_alert_to_each_registered_device_over_http2(fake, key, plugin, clocks):
    ctx = context(fake.config(key), [device("tok-phone"), device("tok-tablet")])

    result = await plugin.notify(ctx)

    assert result.ok, result
    assert result.unregistered_devices == ()
    assert sorted(n.device_token for n in fake.notifications) == ["tok-phone", "tok-tablet"]
    # Really HTTP/2 over TLS: ALPN chose h2 and both requests were streams of one connection.
    assert [(c.alpn, c.tls_version in ("TLSv1.2", "TLSv1.3")) for c in fake.connections] == [("h2", True)]
    assert {(n.http_version, n.alpn, n.connection) for n in fake.notifications} == {("HTTP/2", "h2", 1)}
    assert len({n.stream_id for n in fake.notifications}) == 2
    sent = fake.to("tok-phone")[0]
    assert sent.headers["authorization"] == f"bearer {fake.provider_tokens[0]}"
    assert {k: v for k, v in sent.headers.items() if k.startswith("apns-")} == {
        "apns-topic": DEFAULT_TOPIC,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": str(int(EXPIRES_AT.timestamp())),
        "apns-collapse-id": NOTIFICATION_ID,
    }
    assert sent.headers["content-type"] == "application/json"
    assert sent.payload == {
        "aps": {"alert": {"title": "Sign-in request", "body": "Shop asks you to sign in: Pay 42 EUR"},
                "sound": "default"},
        "authorization_url": "https://as.example.com/device/Zm9vYmFy",
        "notification_id": NOTIFICATION_ID,
        "binding_message": "Pay 42 EUR",
        "client_name": "Shop",
        "expires_at": "2030-01-02T03:04:05Z",
    }


async def test_without_a_binding_message_the_payload_and_the_text_leave_it_out(fake, key, plugin):
    assert (await plugin.notify(context(fake.config(key), [device("tok-phone")], binding_message=None))).ok

    [sent] = fake.notifications
    assert "binding_message" not in sent.payload
    assert sent.payload["aps"]["alert"]["body"] == "Shop asks you to sign in"


async def test_the_provider_token_is_an_es256_jwt_naming_the_key_and_the_team(fake, key, plugin, clocks):
    before = int(clocks.wall())
    assert (await plugin.notify(context(fake.config(key), [device("tok-phone")]))).ok

    [token] = fake.provider_tokens
    verified = jwt.decode(token, ECKey.import_key(key.public_key), algorithms=["ES256"])
    assert verified.header == {"alg": "ES256", "kid": key.key_id}
    assert verified.claims == {"iss": key.team_id, "iat": verified.claims["iat"]}
    assert before <= verified.claims["iat"] <= clocks.wall()


# -- provider tokens and the connection ------------------------------------------------------


async def test_one_connection_and_one_token_serve_several_notifications(fake, key, plugin):
    for n in range(3):
        ctx = context(fake.config(key), [device("tok-phone"), device("tok-tablet")], notification_id=f"n-{n}")
        assert (await plugin.notify(ctx)).ok

    assert len(fake.notifications) == 6
    assert len(fake.provider_tokens) == 1
    assert len(fake.connections) == 1
    assert len({n.stream_id for n in fake.notifications}) == 6


async def test_a_burst_of_concurrent_notifications_signs_one_token_on_one_connection(fake, key, plugin):
    fake.send_delay = 0.05

    results = await asyncio.gather(*(
        plugin.notify(context(fake.config(key), [device(f"tok-{n}")], notification_id=f"n-{n}"))
        for n in range(10)))

    assert all(r.ok for r in results), results
    assert len(fake.notifications) == 10
    assert len(fake.provider_tokens) == 1
    assert len(fake.connections) == 1
    assert all(status == 200 for _, status, _ in fake.attempts)


async def test_the_token_is_renewed_after_50_minutes_and_not_before(fake, key, plugin, clocks):
    ctx = context(fake.config(key), [device("tok-phone")])
    assert (await plugin.notify(ctx)).ok

    clocks.advance(49 * 60)
    assert (await plugin.notify(ctx)).ok
    assert len(fake.provider_tokens) == 1

    clocks.advance(60 + 1)
    assert (await plugin.notify(ctx)).ok
    # A renewal APNs accepts (not within 20 minutes) on the same connection.
    assert len(fake.provider_tokens) == 2
    assert fake.notifications[-1].provider_token == fake.provider_tokens[1]
    assert len(fake.connections) == 1
    assert "TooManyProviderTokenUpdates" not in fake.token_refusals


async def test_an_expired_provider_token_is_renewed_once_and_the_device_retried(fake, key, plugin, clocks):
    ctx = context(fake.config(key), [device("tok-phone")])
    assert (await plugin.notify(ctx)).ok

    clocks.wall_offset += 3601  # the machine slept: the monotonic clock did not move
    result = await plugin.notify(ctx)

    assert result.ok, result
    assert fake.attempts == [("tok-phone", 200, None), ("tok-phone", 403, "ExpiredProviderToken"),
                             ("tok-phone", 200, None)]
    assert len(fake.provider_tokens) == 2
    assert fake.notifications[-1].provider_token == fake.provider_tokens[1]


async def test_an_expired_token_on_several_devices_is_renewed_once(fake, key, plugin, clocks):
    devices = [device("tok-a"), device("tok-b"), device("tok-c")]
    assert (await plugin.notify(context(fake.config(key), devices))).ok

    clocks.wall_offset += 3601
    result = await plugin.notify(context(fake.config(key), devices))

    assert result.ok, result
    assert len(fake.provider_tokens) == 2
    assert sum(1 for _, status, _ in fake.attempts if status == 403) == 3
    assert len(fake.notifications) == 6


async def test_a_token_apns_keeps_calling_expired_is_retried_later_not_looped(fake, key):
    plugin = ApnsNotifier(wall_clock=lambda: time.time() - 2 * 3600)  # a clock two hours behind
    try:
        result = await plugin.notify(context(fake.config(key), [device("tok-phone")]))
    finally:
        await plugin.aclose()

    assert not result.ok and not result.permanent
    assert "ExpiredProviderToken" in result.detail
    assert fake.attempts == [("tok-phone", 403, "ExpiredProviderToken")] * 2


async def test_a_key_apns_does_not_know_is_a_permanent_failure(fake, plugin):
    stranger = generate_apns_key()

    result = await plugin.notify(context(fake.config(stranger), [device("tok-phone")]))

    assert not result.ok and result.permanent
    assert result.unregistered_devices == ()
    assert "InvalidProviderToken" in result.detail
    assert fake.token_refusals == ["InvalidProviderToken"]
    assert fake.notifications == []


async def test_a_token_signed_by_another_private_key_is_a_permanent_failure(fake, key, plugin):
    impostor = generate_apns_key()

    result = await plugin.notify(context(fake.config(key, private_key=impostor.private_key), [device("tok-phone")]))

    assert not result.ok and result.permanent
    assert fake.token_refusals == ["InvalidProviderToken"]


async def test_a_team_the_key_does_not_belong_to_is_a_permanent_failure(fake, key, plugin):
    result = await plugin.notify(context(fake.config(key, team_id="ZZZZZ99999"), [device("tok-phone")]))

    assert not result.ok and result.permanent
    assert fake.token_refusals == ["InvalidProviderToken"]


async def test_another_team_gets_a_connection_of_its_own(fake, key, plugin):
    other = fake.provider_key()  # another team: APNs refuses two teams' tokens on one connection

    for k in (key, other):
        assert (await plugin.notify(context(fake.config(k), [device("tok-phone")]))).ok

    assert len(fake.connections) == 2
    assert [n.connection for n in fake.notifications] == [1, 2]


async def test_after_aclose_the_next_notification_opens_a_new_connection(fake, key, plugin):
    ctx = context(fake.config(key), [device("tok-phone")])
    assert (await plugin.notify(ctx)).ok
    await plugin.aclose()

    assert (await plugin.notify(ctx)).ok

    assert len(fake.connections) == 2
    assert len(fake.provider_tokens) == 1


# -- APNs's answers ----------------------------------------------------------------------------


async def test_dead_registrations_come_back_as_unregistered_devices(fake, key, plugin):
    fake.answers.update({"tok-gone": 410, "tok-bogus": (400, "BadDeviceToken"),
                         "tok-other-app": (400, "DeviceTokenNotForTopic"), "tok-old": (410, "ExpiredToken")})
    devices = [device("tok-gone", "dev-1"), device("tok-phone", "dev-2"), device("tok-bogus", "dev-3"),
               device("tok-other-app", "dev-4"), device("tok-old", "dev-5")]

    result = await plugin.notify(context(fake.config(key), devices))

    assert result.ok, result
    # Only 410 drops a registration: a 400 may be our own environment or topic being wrong.
    assert sorted(result.unregistered_devices) == ["dev-1", "dev-5"]
    assert [n.device_token for n in fake.notifications] == ["tok-phone"]


async def test_only_dead_registrations_is_a_permanent_failure_naming_them(fake, key, plugin):
    fake.answers.update({"tok-gone": (410, "Unregistered"), "tok-bogus": (410, "ExpiredToken")})
    devices = [device("tok-gone", "dev-1"), device("tok-bogus", "dev-2")]

    result = await plugin.notify(context(fake.config(key), devices))

    assert not result.ok and result.permanent
    assert sorted(result.unregistered_devices) == ["dev-1", "dev-2"]


@pytest.mark.parametrize("answer", [429, (429, "TooManyProviderTokenUpdates"), 500, 503, (503, "Shutdown")])
async def test_apns_being_busy_or_unavailable_is_retried_later(fake, key, plugin, answer):
    fake.answers["tok-phone"] = answer

    result = await plugin.notify(context(fake.config(key), [device("tok-phone")]))

    assert not result.ok and not result.permanent
    assert result.unregistered_devices == ()


async def test_a_busy_device_beside_a_dead_one_is_retried_and_the_dead_one_still_reported(fake, key, plugin):
    fake.answers.update({"tok-gone": 410, "tok-busy": 503})
    devices = [device("tok-gone", "dev-1"), device("tok-busy", "dev-2")]

    result = await plugin.notify(context(fake.config(key), devices))

    assert not result.ok and not result.permanent
    assert result.unregistered_devices == ("dev-1",)


async def test_one_accepting_device_is_enough(fake, key, plugin):
    fake.answers["tok-busy"] = 503

    result = await plugin.notify(context(fake.config(key), [device("tok-busy"), device("tok-phone")]))

    assert result.ok
    assert "1 sent" in result.detail and "1 retryable" in result.detail


async def test_a_topic_apns_refuses_is_final_and_keeps_the_devices(fake, key, plugin):
    result = await plugin.notify(context(fake.config(key, topic="com.example.other"), [device("tok-phone")]))

    assert not result.ok and result.permanent
    assert result.unregistered_devices == ()
    assert "TopicDisallowed" in result.detail


@pytest.mark.parametrize("answer", [(413, "PayloadTooLarge"), (403, "Forbidden"), (400, "BadTopic"),
                                    (403, "BadCertificateEnvironment"), (404, "BadPath")])
async def test_other_client_errors_are_final_and_keep_the_device(fake, key, plugin, answer):
    fake.answers["tok-phone"] = answer

    result = await plugin.notify(context(fake.config(key), [device("tok-phone")]))

    assert not result.ok and result.permanent
    assert result.unregistered_devices == ()
    assert answer[1] in result.detail
    assert len(fake.attempts) == 1


async def test_a_device_that_recovers_is_reached_on_the_notifiers_retry(fake, key, plugin):
    fake.answers["tok-phone"] = [503]
    ctx = context(fake.config(key), [device("tok-phone")])

    first = await plugin.notify(ctx)
    second = await plugin.notify(ctx)

    assert (first.ok, first.permanent, second.ok) == (False, False, True)


async def test_no_registered_device_is_a_permanent_failure_without_calling_apns(fake, key, plugin):
    result = await plugin.notify(context(fake.config(key), []))

    assert not result.ok and result.permanent
    assert "no device registered" in result.detail
    assert fake.connections == []


# -- TLS, time-outs, unreachable -------------------------------------------------------------


async def test_an_untrusted_server_certificate_fails_without_sending(fake, key, plugin):
    untrusting = {k: v for k, v in fake.config(key).items() if k != "ca_file"}

    result = await plugin.notify(context(untrusting, [device("tok-phone")]))

    assert not result.ok and result.permanent
    assert "certificate is not trusted" in result.detail
    assert fake.connections == [] and fake.attempts == []

    # Trusting the fake's CA takes a new client (the trusted CAs are fixed per connection).
    assert (await plugin.notify(context(fake.config(key), [device("tok-phone")]))).ok


async def test_a_ca_file_that_did_not_issue_the_servers_certificate_does_not_make_it_trusted(
        fake, key, plugin, tmp_path):
    config = fake.config(key, ca_file=str(make_pki(tmp_path).ca_file))

    result = await plugin.notify(context(config, [device("tok-phone")]))

    assert not result.ok and result.permanent
    assert fake.attempts == []


async def test_a_slow_apns_times_out_and_is_retried_later(fake, key, plugin):
    fake.send_delay = 0.3

    result = await plugin.notify(context(fake.config(key, timeout=0.05), [device("tok-phone")]))

    assert not result.ok and not result.permanent
    assert "did not answer in time" in result.detail


async def test_an_unreachable_apns_is_retried_later(fake, key, plugin):
    result = await plugin.notify(context(fake.config(key, host="127.0.0.1:9"), [device("tok-phone")]))

    assert not result.ok and not result.permanent
    assert "unreachable" in result.detail


# -- configuration -----------------------------------------------------------------------------


def _pem(private: Any) -> str:
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()


RSA_PEM = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
P384_PEM = _pem(ec.generate_private_key(ec.SECP384R1()))
BROKEN_PEM = "-----BEGIN PRIVATE KEY-----\nAAAAsecretAAAA\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize("change", [
    {"team_id": None},
    {"key_id": "short"},
    {"private_key": None},
    {"private_key": "not a key"},
    {"private_key": BROKEN_PEM},
    {"private_key": RSA_PEM},
    {"private_key": P384_PEM},
    {"topic": None},
    {"topic": "com.example.app\r\nx-evil: 1"},
    {"host": None, "environment": "staging"},
    {"host": "https://api.push.apple.com/3"},
    {"host": "127.0.0.1:99999"},
    {"timeout": "soon"},
    {"timeout": 0},
    {"ca_file": "/nonexistent/ca.pem"},
])
async def test_an_unusable_configuration_is_a_permanent_failure_that_never_shows_the_key(
        fake, key, plugin, change):
    config = {k: v for k, v in {**fake.config(key), **change}.items() if v is not None}

    with capture_logs() as logs:
        result = await plugin.notify(context(config, [device("tok-phone")]))

    assert not result.ok and result.permanent
    assert result.detail.startswith("apns: apns.")
    assert [e["event"] for e in logs] == ["apns_misconfigured"]
    text = repr(logs) + repr(result)
    assert not [s for s in ("PRIVATE KEY", "secret", *pem_lines(config.get("private_key", ""))) if s in text]
    assert fake.connections == []


# -- logs ------------------------------------------------------------------------------------


def pem_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if len(line) >= 16 and "PRIVATE KEY" not in line]


async def test_logs_name_devices_by_id_and_never_carry_tokens_or_keys(fake, key, plugin, clocks, caplog):
    caplog.set_level(logging.DEBUG)  # httpx, httpcore, hpack and h2 included
    fake.answers.update({"tok-secret-gone": 410, "tok-secret-busy": 503})
    devices = [device("tok-secret-phone", "dev-1"), device("tok-secret-gone", "dev-2"),
               device("tok-secret-busy", "dev-3")]
    impostor = generate_apns_key(key.team_id, key.key_id)

    with capture_logs() as logs:
        first = await plugin.notify(context(fake.config(key), devices))
        clocks.wall_offset += 3601
        second = await plugin.notify(context(fake.config(key), devices))
        third = await plugin.notify(context(fake.config(key, private_key=impostor.private_key), devices))
        fourth = await plugin.notify(context(fake.config(key, private_key=BROKEN_PEM), devices))

    outcomes = {(e["device_id"], e["outcome"]) for e in logs if e["event"] == "apns_device_notified"}
    assert outcomes >= {("dev-1", "sent"), ("dev-2", "unregistered"), ("dev-3", "retryable")}
    assert third.permanent and fourth.permanent
    assert any("/3/device/<redacted>" in r.getMessage() for r in caplog.records if r.name == "httpx")

    text = repr(logs) + caplog.text + repr([first, second, third, fourth])
    secrets = [*fake.provider_tokens, "tok-secret", "PRIVATE KEY", "AAAAsecretAAAA",
               *pem_lines(key.private_key), *pem_lines(impostor.private_key)]
    assert len(fake.provider_tokens) == 2
    leaked = [s for s in secrets if s in text]
    assert leaked == []
