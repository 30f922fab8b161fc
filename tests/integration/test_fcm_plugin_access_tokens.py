"""The ``fcm`` plugin's OAuth access tokens against the local fake of Google's token endpoint: one
token for many notifications, refreshed before it expires or once when FCM refuses it, cached
per service account; credentials the endpoint refuses, and an endpoint that is unreachable or
failing. No database or broker needed."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.notifier.plugins.fcm import FcmNotifier
from tests.integration.fcm_support import account as account  # pytest fixture
from tests.integration.fcm_support import context
from tests.integration.fcm_support import fake as fake  # pytest fixture
from tests.integration.fcm_support import session as session  # pytest fixture
from tests.support.fake_fcm import generate_service_account
from tests.support.local_server import serve
from tests.support.notification_context import device


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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
