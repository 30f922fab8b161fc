"""The ``fcm`` plugin reading FCM's answers from the local fake: dead registrations come back as
unregistered devices, what is retried later and what is final, and an unusable configuration,
a slow FCM, an unreachable one and a redirect. No database or broker needed."""

from __future__ import annotations

import pytest
from aiohttp import web

from services.notifier.plugins.fcm import FcmNotifier
from tests.integration.fcm_support import account as account  # pytest fixture
from tests.integration.fcm_support import context
from tests.integration.fcm_support import fake as fake  # pytest fixture
from tests.integration.fcm_support import session as session  # pytest fixture
from tests.support.fake_fcm import BAD_REQUEST_TYPE, FCM_ERROR_TYPE
from tests.support.local_server import serve
from tests.support.notification_context import device

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
