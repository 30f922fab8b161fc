"""The request's state machine. Each transition is one conditional update plus its history
row and the event that announces it, written in one transaction (the outbox), so the state
and the news of it never disagree:

    pending -> approved -> tokens_issued
    pending -> denied | expired | failed
"""

from __future__ import annotations

import re
from datetime import datetime
from uuid import UUID

import asyncpg

from shared import metrics, tracing
from shared.db import Connection
from shared.domain.auth_request import AuthRequest, Status
from shared.events import (
    AuthRequestCreated,
    AuthRequestDecided,
    AuthRequestExpired,
    AuthRequestFailed,
)
from shared.repositories import auth_requests, device_refs, outbox, users

# An operator's cancel (ciba-admin request cancel) is the one failure whose reason the client
# is told: the others carry plugin and provider detail, kept for operators in the history.
CANCELLED_BY_OPERATOR = "cancelled by the operator: "
UNEXPLAINED_FAILURE = "the user could not be reached to authenticate"
# What an error_description may hold (RFC 6749 5.2): printable ASCII but '"' and '\\'.
CANCEL_REASON = re.compile(r"[\x20-\x21\x23-\x5B\x5D-\x7E]{1,200}")


def failure_for_client(reason: str | None) -> str:
    """The error_description a client gets for a failed request."""
    if reason is not None and reason.startswith(CANCELLED_BY_OPERATOR):
        return reason
    return UNEXPLAINED_FAILURE


class TooManyPending(Exception):
    """The user already has backchannelMaxPendingPerUser pending requests."""


def created_event(request: AuthRequest) -> AuthRequestCreated:
    return AuthRequestCreated(request_id=request.id, client_id=request.client_id,
                              delivery_mode=request.delivery_mode, occurred_at=request.created_at)


async def create_many(pool: asyncpg.Pool, requests: list[AuthRequest], *,
                      service: str) -> list[asyncpg.IntegrityConstraintViolationError | None]:
    """Store new requests made at the same moment (no per-user cap to enforce), each with its
    history and its event, in one statement. Should the statement fail on one request (its
    client or user removed meanwhile), each is stored on its own, so that one fails alone;
    returns, per request, None or the error that refused it."""
    created = [(request, created_event(request)) for request in requests]
    try:
        await auth_requests.insert_announced_many(pool, created, service=service)
        for request in requests:
            metrics.transition(Status.PENDING, request.delivery_mode)
        return [None] * len(requests)
    except asyncpg.IntegrityConstraintViolationError:
        if len(requests) == 1:
            raise
    outcomes: list[asyncpg.IntegrityConstraintViolationError | None] = []
    for request, event in created:
        try:
            await auth_requests.insert_announced(pool, request, service=service, event=event)
            metrics.transition(Status.PENDING, request.delivery_mode)
            outcomes.append(None)
        except asyncpg.IntegrityConstraintViolationError as exc:
            outcomes.append(exc)
    return outcomes


async def create(conn: Connection, request: AuthRequest, *, service: str,
                 max_pending_per_user: int = 0) -> None:
    """Store a new request with its history and its AuthRequestCreated event. With
    ``max_pending_per_user`` the user's row is locked while counting, so concurrent requests
    cannot slip past the cap together."""
    event = created_event(request)
    if max_pending_per_user <= 0:
        await auth_requests.insert_announced(conn, request, service=service, event=event)
    else:
        async with conn.transaction():
            await users.lock(conn, request.sub)
            pending = await auth_requests.count_pending_for_user(conn, request.sub, request.created_at)
            if pending >= max_pending_per_user:
                raise TooManyPending
            await auth_requests.insert_announced(conn, request, service=service, event=event)
    metrics.transition(Status.PENDING, request.delivery_mode)


async def decide(conn: Connection | asyncpg.Pool, request: AuthRequest, *, approved: bool,
                 now: datetime, auth_time: datetime | None, acr: str | None, service: str) -> AuthRequest | None:
    """The user's decision; None when the request was no longer pending (or had expired)."""
    event = AuthRequestDecided(request_id=request.id, decision="approved" if approved else "denied",
                               delivery_mode=request.delivery_mode, occurred_at=now)
    # The decision joins the request's trace (begun at /bc-authorize), linked to the HTTP
    # request that carried it; token delivery continues from here.
    with tracing.span("auth_request decide", parent=request.traceparent, link_current=True,
                      attributes={"ciba.decision": event.decision}):
        decided = await auth_requests.decide(conn, request.id, approved=approved, now=now, auth_time=auth_time,
                                             acr=acr, service=service, event=event,
                                             traceparent=tracing.current_traceparent())
    if decided is not None:
        metrics.transition(decided.status, decided.delivery_mode)
        metrics.stage("notified_to_decided", decided.notified_at, now)
    return decided


async def expire_due(conn: Connection, *, now: datetime, limit: int,
                     service: str) -> list[auth_requests.Expired]:
    """Up to ``limit`` pending requests past their deadline become expired, with their history,
    their events and the NOTIFYs that wake their long polls: four statements a chunk."""
    async with conn.transaction():
        expired = await auth_requests.expire_due(conn, now, limit, service)
        if expired:
            await auth_requests.notify_changed_many(conn, [request.id for request in expired])
            await outbox.add_many(conn, [
                AuthRequestExpired(request_id=request.id, delivery_mode=request.delivery_mode, occurred_at=now)
                for request in expired])
    for request in expired:
        metrics.transition(Status.EXPIRED, request.delivery_mode)
    return expired


async def fail(conn: Connection, request_id: UUID, *, reason: str, now: datetime,
               service: str) -> AuthRequest | None:
    async with conn.transaction():
        failed = await auth_requests.fail(conn, request_id, reason, now)
        if failed is None:
            return None
        await device_refs.use_all(conn, request_id, now)
        await auth_requests.add_history(conn, request_id, "failed", now, service, reason)
        await auth_requests.notify_changed(conn, request_id)
        await outbox.add(
            conn,
            AuthRequestFailed(request_id=request_id, delivery_mode=failed.delivery_mode,
                              reason=reason, occurred_at=now),
        )
    metrics.transition(Status.FAILED, failed.delivery_mode)
    return failed


async def reannounce_lost(conn: Connection, *, now: datetime, created_before: datetime,
                          max_reannounce: int, limit: int) -> list[AuthRequest]:
    """Write a fresh AuthRequestCreated for requests whose first one was never handled."""
    async with conn.transaction():
        lost = await auth_requests.claim_unannounced(conn, created_before=created_before,
                                                     max_reannounce=max_reannounce, limit=limit)
        for request in lost:
            await outbox.add(
                conn,
                AuthRequestCreated(request_id=request.id, client_id=request.client_id,
                                   delivery_mode=request.delivery_mode, occurred_at=now),
            )
        return lost


async def disable_user(conn: Connection, username: str, *, now: datetime,
                       service: str) -> list[AuthRequest] | None:
    """Disable the user and deny each of their pending requests (the clients hear of it as of
    any denial); the denied requests, or None when there is no such user."""
    async with conn.transaction():
        sub = await users.set_disabled(conn, username, now)
        if sub is None:
            return None
        denied = []
        for request in await auth_requests.pending_for_user(conn, sub):
            decided = await decide(conn, request, approved=False, now=now, auth_time=None, acr=None, service=service)
            if decided is not None:
                denied.append(decided)
        return denied


async def cancel(conn: Connection, request_id: UUID, *, reason: str, now: datetime,
                 service: str) -> AuthRequest | None:
    """An operator ends a pending request as failed; the client is told ``reason``. None when
    the request was no longer pending."""
    if not CANCEL_REASON.fullmatch(reason):
        raise ValueError("the reason must be 1 to 200 printable ASCII characters, without '\"' or '\\'")
    return await fail(conn, request_id, reason=CANCELLED_BY_OPERATOR + reason, now=now, service=service)
