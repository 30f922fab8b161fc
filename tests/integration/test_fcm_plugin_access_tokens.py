"""The ``fcm`` notification plugin against a local fake of Google's token endpoint and FCM's
HTTP v1 ``messages:send`` (README, "End-user notification"). No database or broker needed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from structlog.testing import capture_logs

from services.notifier.plugins.base import NotificationContext, RegisteredDevice
from services.notifier.plugins.fcm import FcmNotifier
from tests.support.fake_fcm import (
    BAD_REQUEST_TYPE,
    FCM_ERROR_TYPE,
    FakeFcm,
    generate_service_account,
)
from tests.support.local_server import serve
from tests.support.notification_context import NOTIFICATION_ID, device, notification_context


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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


# -- delivering --------------------------------------------------------------------------


async def test_delivers_the_request_as_string_data_to_each_registered_device(fake, session, account):
    ctx = context(session, fake.config(account), [device("tok-phone"), device("tok-tablet")])

    result = await FcmNotifier().notify(ctx)

    assert result.ok, result
    assert result.unregistered_devices == ()
    assert sorted(m.device_token for m in fake.sent) == ["tok-phone", "tok-tablet"]
    message = fake.sent_to("tok-phone")[0]
    assert message.project == "ciba-test"
    assert message.message == {
        "token": "tok-phone",
        "data": {
            "authorization_url": "https://as.example.com/device/Zm9vYmFy",
            "binding_message": "Pay 42 EUR",
            "client_name": "Shop",
            "notification_id": "5f0c7f4e-0a51-4c1e-9a52-8d1f0e0b7a11",
            "expires_at": "2030-01-02T03:04:05Z",
        },
        "notification": {"title": "Sign-in request", "body": "Shop asks you to sign in: Pay 42 EUR"},
        "android": {"priority": "high"},
        "apns": {"headers": {"apns-priority": "10"}},
    }
    assert all(isinstance(value, str) for value in message.message["data"].values())
    assert fake.tokens_issued == 1


async def test_without_a_binding_message_the_data_and_the_text_leave_it_out(fake, session, account):
    ctx = context(session, fake.config(account), [device("tok-phone")], binding_message=None)

    assert (await FcmNotifier().notify(ctx)).ok

    [message] = fake.sent
    assert "binding_message" not in message.message["data"]
    assert message.message["notification"]["body"] == "Shop asks you to sign in"


async def test_project_id_in_the_configuration_overrides_the_service_accounts(fake, session, account):
    ctx = context(session, fake.config(account, project_id="other-project"), [device("tok-phone")])

    assert (await FcmNotifier().notify(ctx)).ok

    assert [m.project for m in fake.sent] == ["other-project"]


async def test_a_service_account_given_as_a_json_string_works_too(fake, session, account):
    ctx = context(session, fake.config(account, service_account=json.dumps(account)), [device("tok-phone")])

    assert (await FcmNotifier().notify(ctx)).ok


# -- access tokens -------------------------------------------------------------------------


async def test_one_access_token_serves_several_notifications(fake, session, account):
    plugin = FcmNotifier()
    for n in range(3):
        ctx = context(session, fake.config(account), [device("tok-phone"), device("tok-tablet")],
                      notification_id=f"n-{n}")
        assert (await plugin.notify(ctx)).ok

    assert fake.tokens_issued == 1
    assert len(fake.sent) == 6
    assert {m.access_token for m in fake.sent} == {fake.issued_tokens[0]}


async def test_a_burst_of_concurrent_notifications_fetches_one_token(fake, session, account):
    fake.token_delay = 0.05
    plugin = FcmNotifier()

    results = await asyncio.gather(*(
        plugin.notify(context(session, fake.config(account), [device(f"tok-{n}")], notification_id=f"n-{n}"))
        for n in range(10)))

    assert all(r.ok for r in results)
    assert fake.token_requests == 1
    assert len(fake.sent) == 10


async def test_the_token_is_refreshed_a_minute_before_it_expires(fake, session, account):
    clock = FakeClock()
    plugin = FcmNotifier(clock=clock)
    ctx = context(session, fake.config(account), [device("tok-phone")])

    assert (await plugin.notify(ctx)).ok
    clock.now += 3600 - 61
    assert (await plugin.notify(ctx)).ok
    assert fake.tokens_issued == 1

    clock.now += 2  # 59 s left: too close
    assert (await plugin.notify(ctx)).ok
    assert fake.tokens_issued == 2
    assert fake.sent[-1].access_token == fake.issued_tokens[1]


async def test_a_short_lived_token_is_refreshed_by_its_own_expires_in(fake, session, account):
    fake.token_lifetime = 120
    clock = FakeClock()
    plugin = FcmNotifier(clock=clock)
    ctx = context(session, fake.config(account), [device("tok-phone")])

    await plugin.notify(ctx)
    clock.now += 61
    await plugin.notify(ctx)

    assert fake.tokens_issued == 2


async def test_tokens_are_cached_per_service_account(fake, session, account):
    other = fake.service_account(project_id="ciba-test")
    plugin = FcmNotifier()

    for acct in (account, other, account, other):
        assert (await plugin.notify(context(session, fake.config(acct), [device("tok-phone")]))).ok

    assert fake.tokens_issued == 2


async def test_a_401_from_fcm_drops_the_token_refreshes_it_and_retries_once(fake, session, account):
    plugin = FcmNotifier()
    ctx = context(session, fake.config(account), [device("tok-phone")])
    assert (await plugin.notify(ctx)).ok

    fake.revoke_all()  # the cached token is no longer accepted
    result = await plugin.notify(ctx)

    assert result.ok, result
    assert fake.tokens_issued == 2
    assert fake.attempts == [("tok-phone", 200), ("tok-phone", 401), ("tok-phone", 200)]
    assert fake.sent[-1].access_token == fake.issued_tokens[1]


async def test_an_expired_token_on_several_devices_is_refreshed_once(fake, session, account):
    plugin = FcmNotifier()
    devices = [device("tok-a"), device("tok-b"), device("tok-c")]
    assert (await plugin.notify(context(session, fake.config(account), devices))).ok

    fake.expire_all()
    result = await plugin.notify(context(session, fake.config(account), devices))

    assert result.ok
    assert fake.tokens_issued == 2
    assert len(fake.sent) == 6


async def test_a_401_that_persists_after_one_refresh_is_retried_later_not_looped(fake, session, account):
    fake.answers["tok-phone"] = "UNAUTHENTICATED"

    result = await FcmNotifier().notify(context(session, fake.config(account), [device("tok-phone")]))

    assert not result.ok and not result.permanent
    assert fake.tokens_issued == 2
    assert fake.attempts == [("tok-phone", 401), ("tok-phone", 401)]


async def test_credentials_the_token_endpoint_refuses_are_a_permanent_failure(fake, session, account):
    impostor, _ = generate_service_account(fake.token_uri, client_email=account["client_email"])
    wrong_key = {**account, "private_key": impostor["private_key"]}

    result = await FcmNotifier().notify(context(session, fake.config(wrong_key), [device("tok-phone")]))

    assert not result.ok and result.permanent
    assert "invalid_grant" in result.detail
    assert fake.token_refusals == ["Invalid JWT Signature."]
    assert fake.attempts == []


async def test_an_account_the_token_endpoint_does_not_know_is_a_permanent_failure(fake, session):
    stranger, _ = generate_service_account(fake.token_uri)

    result = await FcmNotifier().notify(context(session, fake.config(stranger), [device("tok-phone")]))

    assert not result.ok and result.permanent
    assert fake.tokens_issued == 0


async def test_an_unreachable_token_endpoint_is_retried_later(fake, session, account):
    config = fake.config(account, token_uri="http://127.0.0.1:9/token")

    result = await FcmNotifier().notify(context(session, config, [device("tok-phone")]))

    assert not result.ok and not result.permanent
    assert "unreachable" in result.detail


async def test_a_failing_token_endpoint_is_retried_later(session, account):
    async def broken(_request: web.Request) -> web.Response:
        return web.json_response({"error": "internal_failure"}, status=503)

    app = web.Application()
    app.router.add_post("/token", broken)
    runner, port = await serve(app)
    try:
        config = {"service_account": account, "token_uri": f"http://127.0.0.1:{port}/token",
                  "api_base": f"http://127.0.0.1:{port}"}
        result = await FcmNotifier().notify(context(session, config, [device("tok-phone")]))
    finally:
        await runner.cleanup()

    assert not result.ok and not result.permanent
    assert "HTTP 503" in result.detail


# -- FCM's answers ---------------------------------------------------------------------------


async def test_dead_registrations_come_back_as_unregistered_devices(fake, session, account):
    fake.answers.update({"tok-gone": "UNREGISTERED", "tok-bogus": "INVALID_ARGUMENT"})
    devices = [device("tok-gone", "dev-1"), device("tok-phone", "dev-2"), device("tok-bogus", "dev-3")]

    result = await FcmNotifier().notify(context(session, fake.config(account), devices))

    assert result.ok
    assert sorted(result.unregistered_devices) == ["dev-1", "dev-3"]
    assert [m.device_token for m in fake.sent] == ["tok-phone"]


async def test_only_dead_registrations_is_a_permanent_failure_naming_them(fake, session, account):
    fake.answers.update({"tok-gone": "UNREGISTERED", "tok-bogus": "INVALID_ARGUMENT"})
    devices = [device("tok-gone", "dev-1"), device("tok-bogus", "dev-2")]

    result = await FcmNotifier().notify(context(session, fake.config(account), devices))

    assert not result.ok and result.permanent
    assert sorted(result.unregistered_devices) == ["dev-1", "dev-2"]


@pytest.mark.parametrize("answer", [503, 500, 429, "UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED"])
async def test_fcm_being_unavailable_or_over_quota_is_retried_later(fake, session, account, answer):
    fake.answers["tok-phone"] = answer

    result = await FcmNotifier().notify(context(session, fake.config(account), [device("tok-phone")]))

    assert not result.ok and not result.permanent
    assert result.unregistered_devices == ()


async def test_a_busy_device_beside_a_dead_one_is_retried_and_the_dead_one_still_reported(fake, session, account):
    fake.answers.update({"tok-gone": "UNREGISTERED", "tok-busy": 503})
    devices = [device("tok-gone", "dev-1"), device("tok-busy", "dev-2")]

    result = await FcmNotifier().notify(context(session, fake.config(account), devices))

    assert not result.ok and not result.permanent
    assert result.unregistered_devices == ("dev-1",)


async def test_one_accepting_device_is_enough(fake, session, account):
    fake.answers["tok-busy"] = 503

    result = await FcmNotifier().notify(
        context(session, fake.config(account), [device("tok-busy"), device("tok-phone")]))

    assert result.ok
    assert "1 sent" in result.detail and "1 retryable" in result.detail


async def test_a_sender_id_mismatch_is_final_but_does_not_drop_the_device(fake, session, account):
    fake.answers["tok-other-app"] = "SENDER_ID_MISMATCH"

    result = await FcmNotifier().notify(context(session, fake.config(account), [device("tok-other-app")]))

    assert not result.ok and result.permanent
    assert result.unregistered_devices == ()
    assert "SENDER_ID_MISMATCH" in result.detail


async def test_an_invalid_argument_about_the_message_rather_than_the_token_keeps_the_device(
        fake, session, account):
    fake.answers["tok-phone"] = (400, {"error": {
        "code": 400, "message": "Message is too big", "status": "INVALID_ARGUMENT",
        "details": [{"@type": FCM_ERROR_TYPE, "errorCode": "INVALID_ARGUMENT"},
                    {"@type": BAD_REQUEST_TYPE,
                     "fieldViolations": [{"field": "message.data", "description": "too big"}]}]}})

    result = await FcmNotifier().notify(context(session, fake.config(account), [device("tok-phone")]))

    assert not result.ok and result.permanent
    assert result.unregistered_devices == ()


async def test_a_device_that_recovers_is_reached_on_the_notifiers_retry(fake, session, account):
    fake.answers["tok-phone"] = [503]
    plugin = FcmNotifier()
    ctx = context(session, fake.config(account), [device("tok-phone")])

    first = await plugin.notify(ctx)
    second = await plugin.notify(ctx)

    assert (first.ok, first.permanent, second.ok) == (False, False, True)


async def test_no_registered_device_is_a_permanent_failure_without_calling_google(fake, session, account):
    result = await FcmNotifier().notify(context(session, fake.config(account), []))

    assert not result.ok and result.permanent
    assert "no device registered" in result.detail
    assert fake.token_requests == 0


@pytest.mark.parametrize("config", [
    {},
    {"service_account": "not json"},
    {"service_account": {"client_email": "a@b"}},
    {"service_account": {"client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END "
                                                                "PRIVATE KEY-----\n", "project_id": "p"}},
])
async def test_an_unusable_configuration_is_a_permanent_failure(session, config):
    result = await FcmNotifier().notify(context(session, config, [device("tok-phone")]))

    assert not result.ok and result.permanent


async def test_a_slow_fcm_times_out_and_is_retried_later(fake, session, account):
    fake.send_delay = 0.3

    result = await FcmNotifier().notify(
        context(session, fake.config(account, timeout=0.05), [device("tok-phone")]))

    assert not result.ok and not result.permanent
    assert "TimeoutError" in result.detail


async def test_an_unreachable_fcm_is_retried_later(fake, session, account):
    config = fake.config(account, api_base="http://127.0.0.1:9")

    result = await FcmNotifier().notify(context(session, config, [device("tok-phone")]))

    assert not result.ok and not result.permanent


async def test_a_redirect_from_fcm_is_not_followed(fake, session, account):
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"{fake.base_url}{request.path}")

    app = web.Application()
    app.router.add_post("/{tail:.*}", redirect)
    runner, port = await serve(app)
    try:
        config = fake.config(account, api_base=f"http://127.0.0.1:{port}")
        result = await FcmNotifier().notify(context(session, config, [device("tok-phone")]))
    finally:
        await runner.cleanup()

    assert not result.ok
    assert fake.sent == []


# -- logs ------------------------------------------------------------------------------------


def pem_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if len(line) >= 16 and "PRIVATE KEY" not in line]


async def test_logs_name_devices_by_id_and_never_carry_tokens_or_keys(fake, session, account):
    fake.answers.update({"tok-secret-gone": "UNREGISTERED", "tok-secret-busy": 503})
    devices = [device("tok-secret-phone", "dev-1"), device("tok-secret-gone", "dev-2"),
               device("tok-secret-busy", "dev-3")]
    plugin = FcmNotifier()

    with capture_logs() as logs:
        first = await plugin.notify(context(session, fake.config(account), devices))
        fake.revoke_all()
        second = await plugin.notify(context(session, fake.config(account), devices))
        impostor, _ = generate_service_account(fake.token_uri, client_email=account["client_email"])
        third = await FcmNotifier().notify(
            context(session, fake.config({**account, "private_key": impostor["private_key"]}), devices))

    outcomes = {(e["device_id"], e["outcome"]) for e in logs if e["event"] == "fcm_device_notified"}
    assert outcomes == {("dev-1", "sent"), ("dev-2", "unregistered"), ("dev-3", "retryable")}
    assert any(e["event"] == "fcm_access_token_refused" for e in logs)

    text = repr(logs) + repr([first, second, third])
    secrets = [*fake.issued_tokens, "tok-secret", "PRIVATE KEY",
               *pem_lines(account["private_key"]), *pem_lines(impostor["private_key"])]
    assert fake.issued_tokens
    leaked = [s for s in secrets if s in text]
    assert leaked == []
