"""The CIBA grant at /token (CIBA Core 10.1 and 11), for poll and ping clients.

Checked in a fixed order: the client's mode, the auth_req_id (one indexed statement that also
stamps the poll), expiry, the pending states (slow_down / authorization_pending), the final
states, then the one-time exchange for tokens. A pending poll that asked to wait is held
until the request changes (long polling, see services.gateway.long_poll).
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol, assert_never
from uuid import UUID

from services.gateway.forms import Form
from services.gateway.long_poll import Applied
from shared import metrics
from shared.clock import Clock
from shared.config.model import ServerConfig
from shared.domain import lifecycle
from shared.domain.auth_request import AuthRequest, DeliveryMode, Status
from shared.domain.grant_types import CIBA_GRANT
from shared.domain.token_issuance import BEARER, Binding, TokenSet
from shared.errors import (
    AccessDenied,
    AuthorizationPending,
    Errors,
    ExpiredToken,
    InvalidGrant,
    InvalidRequest,
    SlowDown,
    TransactionFailed,
    UnauthorizedClient,
)
from shared.logging import bind_request, get_logger
from shared.repositories.auth_requests import Poll
from shared.repositories.clients import Client

GRANT_TYPE = CIBA_GRANT
# CIBA Core 11's answers, and the form's (a missing auth_req_id).
ERRORS: Errors = (UnauthorizedClient, InvalidRequest, InvalidGrant, ExpiredToken, SlowDown, AuthorizationPending,
                  AccessDenied, TransactionFailed)
log = get_logger("ciba.gateway")


class CibaRequests(Protocol):
    """What the grant reads and writes (stores/grants.py: PostgresCibaRequests)."""

    async def record_poll(self, auth_req_id: str, client_id: str, now: datetime) -> Poll | None:
        """Stamp the poll and grow the interval of one too soon; None when the auth_req_id is
        unknown or belongs to another client."""
        ...

    async def get(self, request_id: UUID) -> AuthRequest | None: ...

    async def issue_tokens(self, request: AuthRequest, client: Client, *, config: ServerConfig, now: datetime,
                           binding: Binding) -> TokenSet | None:
        """approved -> tokens_issued, and the token set; None if another exchange got there first."""
        ...


class RequestChanges(Protocol):
    """The wake-up of a held poll when its request changes (long_poll.RequestWaiters)."""

    @property
    def full(self) -> bool: ...

    def subscription(self, request_id: str) -> AbstractContextManager[asyncio.Future[None]]: ...


async def exchange(client: Client, form: Form, *, requests: CibaRequests, changes: RequestChanges,
                   config: ServerConfig, clock: Clock, binding: Binding = BEARER, wait: int | None = None,
                   applied: Applied | None = None) -> dict[str, Any]:
    """The token response for this poll, or the ProtocolError it gets. ``clock`` is read again
    when a held poll is answered."""
    if client.backchannel_token_delivery_mode == DeliveryMode.PUSH:
        raise UnauthorizedClient("push clients receive their tokens at their notification endpoint")
    auth_req_id = form.require("auth_req_id")
    with bind_request(auth_req_id=auth_req_id, client_id=client.client_id):
        now = clock.now()
        poll = await requests.record_poll(auth_req_id, client.client_id, now)
        if poll is None:
            raise InvalidGrant("auth_req_id is unknown or was issued to another client")
        request = poll.request
        if _is_waiting(request, now) and not poll.too_fast and wait:
            request = await _hold(requests, changes, config, request, wait, now, applied or Applied())
            now = clock.now()
        return await _answer(requests, config, client, request, now, binding, too_fast=poll.too_fast,
                             interval=poll.interval_sec)


def _is_waiting(request: AuthRequest, now: datetime) -> bool:
    return request.status is Status.PENDING and request.expires_at > now


async def _hold(requests: CibaRequests, changes: RequestChanges, config: ServerConfig, request: AuthRequest,
                wait: int, now: datetime, applied: Applied) -> AuthRequest:
    """Hold a pending poll until the request changes or the wait runs out."""
    remaining = (request.expires_at - now).total_seconds()
    timeout = min(wait, config.cibaLongPollingMaxWaitSec, remaining)
    if timeout <= 0 or changes.full:
        return request
    applied.wait = int(min(wait, config.cibaLongPollingMaxWaitSec))
    with changes.subscription(str(request.id)) as changed:
        # Re-read once subscribed: a decision may have landed since the poll was stamped.
        current = await requests.get(request.id)
        if current is None or current.status is not Status.PENDING:
            return current or request
        try:
            await asyncio.wait_for(asyncio.shield(changed), timeout)
        except TimeoutError:
            return current
    return await requests.get(request.id) or current


def check_exchangeable(request: AuthRequest, now: datetime, *, too_fast: bool, interval: int | None,
                       grant_extra_sec: int) -> None:
    """The CIBA grant's answers in their order (CIBA Core 11): raise the error a poll gets, or
    return when the request's tokens may be issued now. Pure: tests/unit/test_protocol_rules.py
    walks its table."""
    match request.status:
        case Status.EXPIRED:
            raise ExpiredToken("the auth_req_id has expired")
        case Status.PENDING if request.expires_at <= now:
            raise ExpiredToken("the auth_req_id has expired")
        case Status.PENDING if too_fast:
            metrics.RATE_LIMITED.labels("token_poll_interval").inc()
            raise SlowDown(f"poll at most every {interval} seconds")
        case Status.PENDING:
            raise AuthorizationPending("the user has not yet decided")
        case Status.DENIED:
            raise AccessDenied("the user denied the request")
        case Status.FAILED:
            raise TransactionFailed(lifecycle.failure_for_client(request.failure_reason))
        case Status.TOKENS_ISSUED:
            raise InvalidGrant("tokens were already issued for this auth_req_id")
        case Status.APPROVED:
            if now > request.expires_at + timedelta(seconds=grant_extra_sec):
                raise ExpiredToken("the grant has expired")
        case unknown:
            assert_never(unknown)


async def _answer(requests: CibaRequests, config: ServerConfig, client: Client, request: AuthRequest,
                  now: datetime, binding: Binding, *, too_fast: bool, interval: int | None) -> dict[str, Any]:
    check_exchangeable(request, now, too_fast=too_fast, interval=interval,
                       grant_extra_sec=config.cibaGrantLifeExtraTimeSec)
    token_set = await requests.issue_tokens(request, client, config=config, now=now, binding=binding)
    if token_set is None:
        raise InvalidGrant("tokens were already issued for this auth_req_id")
    log.info("tokens_issued", delivery_mode=request.delivery_mode)
    return token_set.as_response()
