"""The ``fcm`` plugin's logs, against the local fake of Google's token endpoint and FCM: devices
named by id and their outcomes, and never a device token, an access token or a service
account's key. No database or broker needed."""

from __future__ import annotations

from structlog.testing import capture_logs

from services.notifier.plugins.fcm import FcmNotifier
from tests.integration.fcm_support import account as account  # pytest fixture
from tests.integration.fcm_support import context
from tests.integration.fcm_support import fake as fake  # pytest fixture
from tests.integration.fcm_support import session as session  # pytest fixture
from tests.support.fake_fcm import generate_service_account
from tests.support.notification_context import device

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
