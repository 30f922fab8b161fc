"""ciba-admin request and token: finding a stuck sign-in, its whole life, cancelling it, and
revoking the tokens issued for it."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.admin.commands.common import CommandError, database, master_secrets
from shared.crypto import Secrets
from shared.domain import lifecycle
from shared.domain.auth_request import AuthRequest
from shared.logging import auth_req_fingerprint
from shared.repositories import attempts, auth_requests
from shared.repositories import tokens as tokens_repo
from shared.settings import Settings


async def _find_request(conn: asyncpg.Connection, secrets: Secrets, given: str) -> AuthRequest:
    """A request by its auth_req_id, or by its id (a UUID, as `request list` prints it)."""
    request = None
    try:
        request = await auth_requests.get(conn, UUID(given))
    except ValueError:
        pass
    request = request or await auth_requests.get_by_hash(conn, secrets.hashes(given))
    if request is None:
        raise CommandError("no request with that id or auth_req_id")
    return request


async def token_revoke(settings: Settings, args: argparse.Namespace) -> Any:
    now = datetime.now(UTC)
    async with database(settings) as conn:
        if args.jti is not None:
            try:
                jti = UUID(args.jti)
            except ValueError:
                raise CommandError("a jti is a UUID") from None
            if not await tokens_repo.revoke(conn, jti, now):
                raise CommandError("no unrevoked token with that jti")
            return {"jti": str(jti), "revoked": 1}
        request = await _find_request(conn, master_secrets(settings), args.grant)
        return {"grant": str(request.id), "revoked": await tokens_repo.revoke_grant(conn, request.id, now)}


async def request_list(settings: Settings, args: argparse.Namespace) -> Any:
    if not 1 <= args.limit <= 10_000:
        raise CommandError("--limit must be 1 to 10000")
    before = datetime.now(UTC) - timedelta(seconds=args.older_than) if args.older_than is not None else None
    secrets = master_secrets(settings)
    async with database(settings) as conn:
        found = await auth_requests.search(conn, status=args.status, client_id=args.client, username=args.user,
                                           created_before=before, limit=args.limit)
    return [{"id": str(r.id), "auth_req": auth_req_fingerprint(secrets.decrypt(r.auth_req_id_enc)),
             "status": r.status, "client_id": r.client_id, "username": item.username,
             "delivery_mode": r.delivery_mode, "created_at": r.created_at, "expires_at": r.expires_at,
             "decided_at": r.decided_at, "failure_reason": r.failure_reason}
            for item in found for r in [item.request]]


async def request_cancel(settings: Settings, args: argparse.Namespace) -> Any:
    secrets = master_secrets(settings)
    async with database(settings) as conn:
        request = await _find_request(conn, secrets, args.id)
        try:
            cancelled = await lifecycle.cancel(conn, request.id, reason=args.reason, now=datetime.now(UTC),
                                               service="admin")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    if cancelled is None:
        raise CommandError(f"the request is no longer pending (it is {request.status})")
    return {"id": str(request.id), "status": "failed", "failure_reason": cancelled.failure_reason}


async def request_show(settings: Settings, args: argparse.Namespace) -> Any:
    secrets = master_secrets(settings)
    async with database(settings) as conn:
        request = await _find_request(conn, secrets, args.id)
        auth_req_id = secrets.decrypt(request.auth_req_id_enc)
        history = await auth_requests.history(conn, request.id)
        notifications = await attempts.notifications(conn, request.id)
        deliveries = await attempts.deliveries(conn, request.id)
        interval = await auth_requests.current_interval(conn, request)
    return {
        "id": str(request.id),
        "auth_req_id": auth_req_id,
        # What the services' log lines carry instead of the auth_req_id: grep for it.
        "auth_req": auth_req_fingerprint(auth_req_id),
        "status": request.status,
        "client_id": request.client_id,
        "sub": request.sub,
        "delivery_mode": request.delivery_mode,
        "scope": request.scope,
        "acr_values": request.acr_values,
        "binding_message": request.binding_message,
        "authorization_details": request.authorization_details,
        "created_at": request.created_at,
        "expires_at": request.expires_at,
        "decided_at": request.decided_at,
        "tokens_issued_at": request.tokens_issued_at,
        "failure_reason": request.failure_reason,
        "delivery_state": request.delivery_state,
        "reannounced": request.reannounced,
        "interval": interval,
        "history": [{"status": h["status"], "at": h["at"], "service": h["service"],
                     **({"detail": h["detail"]} if h["detail"] else {})} for h in history],
        "notifications": notifications,
        "deliveries": deliveries,
    }
