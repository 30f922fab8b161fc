"""The operator commands behind ciba-admin; each returns what is printed as JSON."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import asyncpg

from shared import totp
from shared.config import store as config_store
from shared.config.model import ConfigError
from shared.crypto import Secrets
from shared.db import migrate
from shared.db.pool import connect
from shared.domain import user_code
from shared.passwords import Passwords
from shared.repositories import attempts, auth_requests, clients, devices, outbox, users
from shared.repositories.users import User, UserExists
from shared.settings import Settings


class CommandError(Exception):
    """A failure the operator can act on; printed as one line."""


@asynccontextmanager
async def _db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(settings.database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def db_upgrade(settings: Settings, args: argparse.Namespace) -> Any:
    created = False
    if args.create_database:
        created = await migrate.create_database_if_missing(settings.database_url)
    async with _db(settings) as conn:
        applied = await migrate.upgrade(conn)
        current = await conn.fetchval("SELECT max(version) FROM schema_migrations")
    return {"database_created": created, "applied": [f"{m.version:04d}_{m.name}" for m in applied],
            "version": current}


def _secrets(settings: Settings) -> Secrets:
    return Secrets(settings.secret_key_bytes)


async def config_get(settings: Settings, args: argparse.Namespace) -> Any:
    async with _db(settings) as conn:
        try:
            effective = await config_store.masked(conn, settings.env, _secrets(settings))
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
    if args.key is None:
        return effective
    if args.key not in effective:
        raise CommandError(f"{args.key}: unknown server property")
    return effective[args.key]


async def config_set(settings: Settings, args: argparse.Namespace) -> Any:
    try:
        value = json.loads(args.value)
    except json.JSONDecodeError:
        value = args.value
    async with _db(settings) as conn:
        try:
            return {args.key: await config_store.set_property(conn, settings.env, _secrets(settings), args.key,
                                                              value)}
        except ConfigError as exc:
            raise CommandError(str(exc)) from None


async def config_unset(settings: Settings, args: argparse.Namespace) -> Any:
    async with _db(settings) as conn:
        try:
            return {args.key: await config_store.unset_property(conn, settings.env, _secrets(settings), args.key)}
        except ConfigError as exc:
            raise CommandError(str(exc)) from None


async def _toggle_flag(settings: Settings, flag: str, enabled: bool) -> Any:
    async with _db(settings) as conn:
        flags = set((await config_store.load(conn, settings.env, _secrets(settings))).featureFlags)
        flags = flags | {flag} if enabled else flags - {flag}
        return {"featureFlags": await config_store.set_property(conn, settings.env, _secrets(settings),
                                                                "featureFlags", sorted(flags))}


async def feature_enable(settings: Settings, args: argparse.Namespace) -> Any:
    return await _toggle_flag(settings, args.flag, True)


async def feature_disable(settings: Settings, args: argparse.Namespace) -> Any:
    return await _toggle_flag(settings, args.flag, False)


def _claims(pairs: list[str]) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"--claim {pair!r}: expected NAME=VALUE")
        try:
            claims[name] = json.loads(value)
        except json.JSONDecodeError:
            claims[name] = value
    return claims


async def user_add(settings: Settings, args: argparse.Namespace) -> Any:
    if not args.username.strip() or len(args.username) > 200:
        raise CommandError("username must be 1 to 200 characters")
    if len(args.password) < 8:
        raise CommandError("password must be at least 8 characters")
    user = User(sub=str(uuid4()), username=args.username, email=args.email,
                phone_number=args.phone, password_hash=Passwords(settings.argon2_params).hash(args.password),
                claims=_claims(args.claim))
    async with _db(settings) as conn:
        try:
            await users.insert(conn, user)
        except UserExists as exc:
            raise CommandError(f"a user with that username, email or phone exists ({exc})") from None
    return {"sub": user.sub, "username": user.username}


async def user_set_code(settings: Settings, args: argparse.Namespace) -> Any:
    try:
        code_hash = Passwords(settings.argon2_params).hash(user_code.check_format(args.code))
    except user_code.InvalidUserCode as exc:
        raise CommandError(str(exc)) from None
    async with _db(settings) as conn:
        if not await users.set_user_code(conn, args.username, code_hash):
            raise CommandError(f"no user named {args.username!r}")
    return {"username": args.username, "user_code": "set"}


async def user_set_totp(settings: Settings, args: argparse.Namespace) -> Any:
    """A new TOTP secret for the user, kept encrypted; the URI is shown once, for the app."""
    secret = totp.new_secret()
    try:
        uri = totp.provisioning_uri(secret, args.username, _totp_issuer(settings))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    secret_enc = _secrets(settings).encrypt(secret)
    async with _db(settings) as conn:
        if not await users.enrol_totp(conn, args.username, secret_enc):
            raise CommandError(f"no user named {args.username!r}")
    return {"username": args.username, "otpauth_uri": uri}


def _totp_issuer(settings: Settings) -> str:
    """The name an authenticator app shows beside the code: the issuer's host name."""
    return urlsplit(settings.issuer).hostname or "ciba"


async def client_list(settings: Settings, args: argparse.Namespace) -> Any:
    async with _db(settings) as conn:
        found = await clients.list_all(conn)
    return [
        {"client_id": c.client_id, "client_name": c.client_name,
         "backchannel_token_delivery_mode": c.backchannel_token_delivery_mode,
         "token_endpoint_auth_method": c.token_endpoint_auth_method,
         "grant_types": c.grant_types, "scope": " ".join(c.scope), "created_at": c.created_at}
        for c in found
    ]


async def request_show(settings: Settings, args: argparse.Namespace) -> Any:
    secrets = _secrets(settings)
    async with _db(settings) as conn:
        request = await auth_requests.get_by_hash(conn, secrets.hash(args.auth_req_id))
        if request is None:
            raise CommandError("no request with that auth_req_id")
        history = await auth_requests.history(conn, request.id)
        notifications = await attempts.notifications(conn, request.id)
        deliveries = await attempts.deliveries(conn, request.id)
        interval = await auth_requests.current_interval(conn, request)
    return {
        "auth_req_id": args.auth_req_id,
        "status": request.status,
        "client_id": request.client_id,
        "sub": request.sub,
        "delivery_mode": request.delivery_mode,
        "scope": request.scope,
        "acr_values": request.acr_values,
        "binding_message": request.binding_message,
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


async def device_list(settings: Settings, args: argparse.Namespace) -> Any:
    async with _db(settings) as conn:
        user = await users.get_by_username(conn, args.username)
        if user is None:
            raise CommandError(f"no user named {args.username!r}")
        found = await devices.for_user(conn, user.sub)
    # The push token itself is a secret of the device: shown only by its last characters.
    secrets = _secrets(settings)
    return [{"device_registration_id": str(d.id), "token_hint": "…" + secrets.decrypt(d.token_enc)[-6:],
             "created_at": d.created_at, "last_registered_at": d.last_registered_at} for d in found]


async def device_remove(settings: Settings, args: argparse.Namespace) -> Any:
    try:
        device_id = UUID(args.device_id)
    except ValueError:
        raise CommandError("device_id must be a device_registration_id (a UUID)") from None
    async with _db(settings) as conn:
        if not await devices.remove(conn, [device_id]):
            raise CommandError("no device with that id")
    return {"device_registration_id": str(device_id), "removed": True}


async def outbox_list(settings: Settings, args: argparse.Namespace) -> Any:
    """Events the broker kept refusing, set aside so later ones flow (shared.repositories.outbox)."""
    async with _db(settings) as conn:
        parked = await outbox.list_parked(conn)
    return [{"id": row.id, "message_id": str(row.message_id), "event_type": row.routing_key,
             "request_id": str(row.auth_request_id) if row.auth_request_id else None,
             "attempts": row.attempts, "last_error": row.last_error, "created_at": row.created_at,
             "parked_at": row.parked_at} for row in parked]


async def outbox_retry(settings: Settings, args: argparse.Namespace) -> Any:
    if not args.all and not args.ids:
        raise CommandError("name the parked rows to send again (their ids), or --all")
    async with _db(settings) as conn:
        requeued = await outbox.unpark(conn, None if args.all else args.ids)
    return {"requeued": requeued}
