"""The ``fcm`` notification plugin against a local fake of Google's token endpoint and FCM's HTTP
v1 ``messages:send`` (README, "End-user notification"): the request delivered as string data to
each registered device, and the project and service account as the configuration gives them.
No database or broker needed."""

from __future__ import annotations

import json

from services.notifier.plugins.fcm import FcmNotifier
from tests.integration.fcm_support import account as account  # pytest fixture
from tests.integration.fcm_support import context
from tests.integration.fcm_support import fake as fake  # pytest fixture
from tests.integration.fcm_support import session as session  # pytest fixture
from tests.support.notification_context import device

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
