"""The ``apns`` plugin reading APNs's answers from the local fake of Apple's provider API: dead
registrations come back as unregistered devices, what is retried later and what is final, and
an untrusted certificate, a slow APNs and an unreachable one. No database or broker needed."""

from __future__ import annotations

import pytest

from tests.integration.apns_support import clocks as clocks  # pytest fixture
from tests.integration.apns_support import context
from tests.integration.apns_support import fake as fake  # pytest fixture
from tests.integration.apns_support import key as key  # pytest fixture
from tests.integration.apns_support import pki as pki  # pytest fixture
from tests.integration.apns_support import plugin as plugin  # pytest fixture
from tests.support.notification_context import device
from tests.support.tls import make_pki

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
