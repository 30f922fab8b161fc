"""The CIBA grant at /token (CIBA Core 10.1 and 11), for poll and ping clients.

Checked in a fixed order: the client's mode, the auth_req_id (one indexed statement that also
stamps the poll), expiry, the pending states (slow_down / authorization_pending), the final
states, then the one-time exchange for tokens.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.gateway.context import Gateway
from services.gateway.forms import Form
from shared.domain.token_issuance import issue_for_request
from shared.errors import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    SlowDown,
    TransactionFailed,
    UnauthorizedClient,
)
from shared.logging import bind_request, get_logger
from shared.repositories import auth_requests
from shared.repositories.clients import CIBA_GRANT, Client

GRANT_TYPE = CIBA_GRANT
log = get_logger("ciba.gateway")


async def exchange(gw: Gateway, client: Client, form: Form) -> dict[str, Any]:
    if client.backchannel_token_delivery_mode == "push":
        raise UnauthorizedClient("push clients receive their tokens at their notification endpoint")
    auth_req_id = form.require("auth_req_id")
    with bind_request(auth_req_id=auth_req_id, client_id=client.client_id):
        return await _exchange(gw, client, auth_req_id)


async def _exchange(gw: Gateway, client: Client, auth_req_id: str) -> dict[str, Any]:
    rt = gw.rt
    now = rt.clock.now()
    poll = await auth_requests.record_poll(rt.pool, rt.secrets.hash(auth_req_id), client.client_id, now)
    if poll is None:
        raise InvalidGrant("auth_req_id is unknown or was issued to another client")
    request = poll.request
    status = request.status

    if status == "expired" or (status == "pending" and request.expires_at <= now):
        raise ExpiredToken("the auth_req_id has expired")
    if status == "pending":
        if poll.too_fast:
            raise SlowDown(f"poll at most every {request.interval_sec} seconds")
        raise AuthorizationPending("the user has not yet decided")
    if status == "denied":
        raise AccessDenied("the user denied the request")
    if status == "failed":
        raise TransactionFailed(request.failure_reason or "the request could not be completed")
    if status == "tokens_issued":
        raise InvalidGrant("tokens were already issued for this auth_req_id")
    grant_deadline = request.expires_at + timedelta(seconds=rt.config.cibaGrantLifeExtraTimeSec)
    if now > grant_deadline:
        raise ExpiredToken("the grant has expired")

    async with rt.pool.acquire() as conn:
        token_set = await issue_for_request(conn, gw.minter, request, client, config=rt.config,
                                            now=now, service=rt.service)
    if token_set is None:
        raise InvalidGrant("tokens were already issued for this auth_req_id")
    log.info("tokens_issued", delivery_mode=request.delivery_mode)
    return token_set.as_response()
