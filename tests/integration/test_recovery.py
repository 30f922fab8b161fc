"""Requests whose created event was lost are found and re-announced (issue: lifecycle)."""

from __future__ import annotations

import uuid

from services.request_processor.recovery import MAX_REANNOUNCE, recover_once
from shared.repositories import attempts, auth_requests
from tests.support.gateway_client import add_user, register


async def _lost_request(http, gateway):
    client = await register(http)
    user = await add_user(gateway)
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": user.username},
                               headers=client.basic)
    auth_req_id = (await response.json())["auth_req_id"]
    request = await auth_requests.get_by_hash(gateway.rt.pool, gateway.rt.secrets.hashes(auth_req_id))
    # The broker lost the event: it left the outbox and no notifier ever saw it.
    await gateway.rt.pool.execute("DELETE FROM outbox WHERE auth_request_id = $1", request.id)
    return request


async def _recover(gateway) -> int:
    rt = gateway.rt
    return await recover_once(rt.pool, rt.secrets, rt.config, rt.clock.now())


async def _outbox_events(gateway, request_id: uuid.UUID) -> int:
    return await gateway.rt.pool.fetchval("SELECT count(*) FROM outbox WHERE auth_request_id = $1", request_id)


async def test_a_lost_request_is_re_announced_after_the_recovery_delay_only(http, gateway, clock) -> None:
    request = await _lost_request(http, gateway)
    await _recover(gateway)
    assert await _outbox_events(gateway, request.id) == 0  # too young: its event may be on its way
    clock.advance(gateway.rt.config.cibaNotificationRecoveryAfterSec + 1)
    await _recover(gateway)
    assert await _outbox_events(gateway, request.id) == 1
    body = await gateway.rt.pool.fetchval(
        "SELECT body FROM outbox WHERE auth_request_id = $1", request.id)
    assert body["type"] == "auth_request.created" and body["request_id"] == str(request.id)
    # While that event waits in the outbox, it is not announced again.
    await _recover(gateway)
    assert await _outbox_events(gateway, request.id) == 1


async def test_re_announcement_stops_after_the_limit(http, gateway, clock) -> None:
    request = await _lost_request(http, gateway)
    clock.advance(gateway.rt.config.cibaNotificationRecoveryAfterSec + 1)
    for _ in range(MAX_REANNOUNCE + 2):
        await _recover(gateway)
        await gateway.rt.pool.execute("DELETE FROM outbox WHERE auth_request_id = $1", request.id)
    stored = await auth_requests.get(gateway.rt.pool, request.id)
    assert stored.reannounced == MAX_REANNOUNCE


async def test_a_notified_request_is_never_re_announced(http, gateway, clock) -> None:
    request = await _lost_request(http, gateway)
    await attempts.add_notification(gateway.rt.pool, request.id, attempt=1, notifier="log", outcome="sent",
                                    detail=None, at=clock.now())
    clock.advance(gateway.rt.config.cibaNotificationRecoveryAfterSec + 1)
    await _recover(gateway)
    assert await _outbox_events(gateway, request.id) == 0


async def test_one_notifier_at_a_time_holds_a_request(http, gateway, clock) -> None:
    from datetime import timedelta
    from uuid import uuid4

    request = await _lost_request(http, gateway)
    hold = timedelta(seconds=20)
    event, reannounced = uuid4(), uuid4()
    assert await auth_requests.claim_notification(gateway.rt.pool, request.id, clock.now(), hold, owner=event)
    assert not await auth_requests.claim_notification(gateway.rt.pool, request.id, clock.now(), hold,
                                                      owner=reannounced)
    # The same event redelivered (its notifier was killed mid-way) takes its claim back at once.
    assert await auth_requests.claim_notification(gateway.rt.pool, request.id, clock.now(), hold, owner=event)
    clock.advance(21)  # a claim left by a crash lapses for other events too
    assert await auth_requests.claim_notification(gateway.rt.pool, request.id, clock.now(), hold,
                                                  owner=reannounced)
    await auth_requests.release_notification_claim(gateway.rt.pool, request.id)
    assert await auth_requests.claim_notification(gateway.rt.pool, request.id, clock.now(), hold, owner=event)
