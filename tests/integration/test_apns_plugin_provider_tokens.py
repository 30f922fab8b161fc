"""The ``apns`` plugin's provider tokens and connections against the local fake of Apple's provider
API: one token and one HTTP/2 connection for many notifications, renewal after 50 minutes or
when APNs calls the token expired (once, not in a loop), keys and teams APNs does not accept,
a connection per team, a new connection after aclose. No database or broker needed."""

from __future__ import annotations

import asyncio
import time

from services.notifier.plugins.apns import ApnsNotifier
from tests.integration.apns_support import clocks as clocks  # pytest fixture
from tests.integration.apns_support import context
from tests.integration.apns_support import fake as fake  # pytest fixture
from tests.integration.apns_support import key as key  # pytest fixture
from tests.integration.apns_support import pki as pki  # pytest fixture
from tests.integration.apns_support import plugin as plugin  # pytest fixture
from tests.support.fake_apns import generate_apns_key
from tests.support.notification_context import device

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
