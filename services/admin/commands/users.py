"""The operator commands behind ciba-admin; each returns what is printed as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import aio_pika
import asyncpg

from services.admin import dlq, rekey, secret_input
from shared import totp
from shared.bus.connection import Bus
from shared.config import sealed
from shared.config import store as config_store
from shared.config.model import ConfigError
from shared.crypto import Secrets, new_token
from shared.db import migrate
from shared.db.pool import connect
from shared.domain import client_metadata, lifecycle, user_code
from shared.domain.auth_request import AuthRequest
from shared.domain.grant_types import CIBA_GRANT
from shared.errors import InvalidClientMetadata
from shared.jose import keys as signing_keys
from shared.jose.keys import ALG_KTY
from shared.logging import auth_req_fingerprint
from shared.loops import GaveUp, retry_until
from shared.passwords import Passwords
from shared.repositories import attempts, auth_requests, clients, devices, outbox, users
from shared.repositories import keys as keys_repo
from shared.repositories import tokens as tokens_repo
from shared.repositories.keys import StoredKey
from shared.repositories.users import User, UserExists
from shared.runtime import wait_for_database
from shared.settings import Settings


class CommandError(Exception):
    """A failure the operator can act on; printed as one line."""


# How long a command keeps trying to open its connection: a connect that times out or is
# refused (a container's DNS answering late, a Postgres restarting) is tried again, so a script
# does not fail on a blip; a database that stays away fails the command in one line. 30 s: under
# Podman, a container joining the network right before (the Compose walk-through's webhook
# receiver) kept the network's DNS from answering for longer than 10 s, twice in CI.
CONNECT_PATIENCE_SEC = 30.0


@asynccontextmanager
async def _db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    try:
        conn = await retry_until(
            lambda: connect(settings.database_url, timeout=settings.db_connect_timeout_sec),
            timeout=CONNECT_PATIENCE_SEC, retry_on=(OSError,))
    except GaveUp as exc:
        raise CommandError(f"database not reachable: {exc}") from None
    try:
        yield conn
    finally:
        await conn.close()


async def db_upgrade(settings: Settings, args: argparse.Namespace) -> Any:
    created = False
    if args.wait > 0:
        await wait_for_database(settings.database_url, timeout=args.wait)
    if args.create_database:
        created = await migrate.create_database_if_missing(settings.database_url)
    async with _db(settings) as conn:
        await migrate.refuse_newer(conn)
        applied = await migrate.upgrade(conn)
        current = await conn.fetchval("SELECT max(version) FROM schema_migrations")
    return {"database_created": created, "applied": [f"{m.version:04d}_{m.name}" for m in applied],
            "version": current}


async def db_status(settings: Settings, args: argparse.Namespace) -> Any:
    async with _db(settings) as conn:
        return await migrate.status(conn)


def _secrets(settings: Settings) -> Secrets:
    return Secrets(settings.master_keys)


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


def _secret(given: str | None, what: str, stdin_flag: str, from_stdin: bool, **options: Any) -> str:
    try:
        return secret_input.read_secret(given, what=what, stdin_flag=stdin_flag, from_stdin=from_stdin, **options)
    except secret_input.SecretInputError as exc:
        raise CommandError(str(exc)) from None


async def config_set(settings: Settings, args: argparse.Namespace) -> Any:
    warnings: list[str] = []
    text = _secret(args.value, "value", "--value-stdin", args.value_stdin, confirm=False, warn=warnings.append)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    if warnings and sealed.holds_secret(args.key, value):
        print(f"ciba-admin: warning: {warnings[0]}", file=sys.stderr)
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
    password = _secret(args.password, "password", "--password-stdin", args.password_stdin)
    if len(password) < 8:
        raise CommandError("password must be at least 8 characters")
    user = User(sub=str(uuid4()), username=args.username, email=args.email,
                phone_number=args.phone, password_hash=Passwords(settings.argon2_params).hash(password),
                claims=_claims(args.claim))
    async with _db(settings) as conn:
        try:
            await users.insert(conn, user)
        except UserExists as exc:
            raise CommandError(f"a user with that username, email or phone exists ({exc})") from None
    return {"sub": user.sub, "username": user.username}


async def user_set_code(settings: Settings, args: argparse.Namespace) -> Any:
    try:
        code = _secret(args.code, "user code", "--code-stdin", args.code_stdin)
        code_hash = Passwords(settings.argon2_params).hash(user_code.check_format(code))
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


def _entry(entry: users.Entry) -> dict[str, Any]:
    return {"sub": entry.sub, "username": entry.username, "email": entry.email, "phone_number": entry.phone_number,
            "claims": entry.claims, "created_at": entry.created_at, "disabled_at": entry.disabled_at,
            "user_code": entry.has_user_code, "totp": entry.has_totp}


async def user_list(settings: Settings, args: argparse.Namespace) -> Any:
    if not 1 <= args.limit <= 10_000:
        raise CommandError("--limit must be 1 to 10000")
    async with _db(settings) as conn:
        found = await users.list_entries(conn, search=args.search, disabled=args.disabled, limit=args.limit)
    return [_entry(entry) for entry in found]


async def _existing_user(conn: asyncpg.Connection, username: str) -> users.Entry:
    entry = await users.entry(conn, username)
    if entry is None:
        raise CommandError(f"no user named {username!r}")
    return entry


async def user_show(settings: Settings, args: argparse.Namespace) -> Any:
    async with _db(settings) as conn:
        return _entry(await _existing_user(conn, args.username))


async def user_passwd(settings: Settings, args: argparse.Namespace) -> Any:
    async with _db(settings) as conn:
        await _existing_user(conn, args.username)  # before asking for a password in vain
        password = _secret(args.password, "password", "--password-stdin", args.password_stdin)
        if len(password) < 8:
            raise CommandError("password must be at least 8 characters")
        await users.set_password(conn, args.username, Passwords(settings.argon2_params).hash(password))
    return {"username": args.username, "password": "set"}


async def user_disable(settings: Settings, args: argparse.Namespace) -> Any:
    async with _db(settings) as conn:
        denied = await lifecycle.disable_user(conn, args.username, now=datetime.now(UTC), service="admin")
    if denied is None:
        raise CommandError(f"no user named {args.username!r}")
    return {"username": args.username, "disabled": True,
            "denied_requests": [auth_req_fingerprint(_secrets(settings).decrypt(r.auth_req_id_enc)) for r in denied]}


async def user_enable(settings: Settings, args: argparse.Namespace) -> Any:
    async with _db(settings) as conn:
        if await users.set_disabled(conn, args.username, None) is None:
            raise CommandError(f"no user named {args.username!r}")
    return {"username": args.username, "disabled": False}


async def user_remove(settings: Settings, args: argparse.Namespace) -> Any:
    async with _db(settings) as conn:
        entry = await _existing_user(conn, args.username)
        if await auth_requests.pending_for_user(conn, entry.sub):
            raise CommandError("the user has pending requests: `ciba-admin user disable` denies them first")
        await users.remove(conn, args.username)
    return {"username": args.username, "removed": True}


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


def _metadata_given(args: argparse.Namespace) -> dict[str, Any]:
    """The metadata of a `client add` or `client update`: the JSON of --metadata (a file, or
    '-' for standard input), with the flags on top."""
    given: dict[str, Any] = {}
    if args.metadata is not None:
        try:
            text = sys.stdin.read() if args.metadata == "-" else Path(args.metadata).read_text(encoding="utf-8")
            given = json.loads(text)
        except OSError as exc:
            raise CommandError(f"cannot read {args.metadata}: {exc.strerror}") from None
        except ValueError:
            raise CommandError("--metadata is not JSON") from None
        if not isinstance(given, dict):
            raise CommandError("--metadata must hold a JSON object")
    flags = {"client_name": args.name, "backchannel_token_delivery_mode": args.delivery_mode,
             "backchannel_client_notification_endpoint": args.notification_endpoint,
             "token_endpoint_auth_method": args.auth_method, "scope": args.scope,
             "grant_types": args.grant or None}
    return given | {key: value for key, value in flags.items() if value is not None}


def _client_from(settings: Settings, config: Any, raw: dict[str, Any], **fields: Any) -> clients.Client:
    try:
        return client_metadata.client_from(client_metadata.parse(raw), config, development=settings.development,
                                           **fields)
    except InvalidClientMetadata as exc:
        raise CommandError(f"invalid client metadata: {exc.description}") from None


def _client(client: clients.Client) -> dict[str, Any]:
    return {**client.metadata, "client_id": client.client_id, "created_at": client.created_at}


async def client_add(settings: Settings, args: argparse.Namespace) -> Any:
    raw = {"grant_types": [CIBA_GRANT], **_metadata_given(args)}
    secrets = _secrets(settings)
    secret = new_token(32)
    async with _db(settings) as conn:
        config = await config_store.load(conn, settings.env, secrets)
        client = _client_from(settings, config, raw, client_id=new_token(16), secret_hash=secrets.hash(secret),
                              secret_enc=secrets.encrypt(secret), created_at=datetime.now(UTC))
        await clients.insert(conn, client)
    return {**_client(client), "client_secret": secret}  # shown this once


async def _existing_client(conn: asyncpg.Connection, client_id: str) -> clients.Client:
    client = await clients.get(conn, client_id)
    if client is None:
        raise CommandError(f"no client {client_id!r}")
    return client


async def client_show(settings: Settings, args: argparse.Namespace) -> Any:
    async with _db(settings) as conn:
        client = await _existing_client(conn, args.client_id)
        managed = await clients.registration_token_hash(conn, client.client_id) is not None
    return {**_client(client), "registration_access_token_issued": managed}


async def client_update(settings: Settings, args: argparse.Namespace) -> Any:
    """The given fields replace the registered ones; the others stay."""
    secrets = _secrets(settings)
    async with _db(settings) as conn:
        current = await _existing_client(conn, args.client_id)
        config = await config_store.load(conn, settings.env, secrets)
        updated = _client_from(settings, config, {**current.metadata, **_metadata_given(args)},
                               client_id=current.client_id, secret_hash=current.client_secret_hash,
                               secret_enc=current.client_secret_enc, created_at=current.created_at)
        await clients.replace(conn, updated)
    return _client(updated)


async def client_remove(settings: Settings, args: argparse.Namespace) -> Any:
    async with _db(settings) as conn:
        if not await clients.remove(conn, args.client_id):
            raise CommandError(f"no client {args.client_id!r}")
    return {"client_id": args.client_id, "removed": True}


async def client_rotate_secret(settings: Settings, args: argparse.Namespace) -> Any:
    secrets = _secrets(settings)
    secret = new_token(32)
    async with _db(settings) as conn:
        await _existing_client(conn, args.client_id)
        await clients.store_secret(conn, args.client_id, secrets.hash(secret), secrets.encrypt(secret))
    return {"client_id": args.client_id, "client_secret": secret}  # shown this once; the old one is dead


async def secrets_rekey(settings: Settings, args: argparse.Namespace) -> Any:
    def progress(line: str) -> None:
        print(f"ciba-admin: rekey: {line}", file=sys.stderr, flush=True)

    async with _db(settings) as conn:
        return await rekey.rekey(conn, _secrets(settings), now=datetime.now(UTC), progress=progress)


def _key(key: StoredKey, now: datetime, alg: str | None = None) -> dict[str, Any]:
    algs = [name for name, kty in ALG_KTY.items() if kty == key.kty]
    return {"kid": key.kid, "alg": alg or algs[0], "algs": algs, "state": key.state(now),
            "created_at": key.created_at, "activates_at": key.activates_at, "retires_at": key.retired_at}


async def keys_list(settings: Settings, args: argparse.Namespace) -> Any:
    now = datetime.now(UTC)
    async with _db(settings) as conn:
        return [_key(key, now) for key in await keys_repo.list_keys(conn)]


async def keys_rotate(settings: Settings, args: argparse.Namespace) -> Any:
    now = datetime.now(UTC)
    async with _db(settings) as conn:
        config = await config_store.load(conn, settings.env, _secrets(settings))
        try:
            key = await signing_keys.rotate(conn, _secrets(settings), args.alg, now=now,
                                            prepublish_sec=config.signingKeyPrepublishSec)
        except signing_keys.KeyChangeRefused as exc:
            raise CommandError(str(exc)) from None
    return _key(key, now, args.alg)


async def keys_retire(settings: Settings, args: argparse.Namespace) -> Any:
    now = datetime.now(UTC)
    async with _db(settings) as conn:
        config = await config_store.load(conn, settings.env, _secrets(settings))
        after = config.signingKeyRetireAfterSec
        if after is None:  # a token signed just now stays verifiable for as long as it lives
            after = max(config.accessTokenLifetime, config.idTokenLifetime)
        try:
            key = await signing_keys.retire(conn, args.kid, now=now, retire_after_sec=after)
        except signing_keys.KeyChangeRefused as exc:
            raise CommandError(str(exc)) from None
    return _key(key, now)


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


@asynccontextmanager
async def _bus(settings: Settings) -> AsyncIterator[Bus]:
    try:
        bus = await Bus.connect(settings.amqp_url, settings.bus_namespace, service="admin",
                                queue_type=settings.bus_queue_type)
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        raise CommandError(f"RabbitMQ not reachable: {exc}") from None
    try:
        yield bus
    except aio_pika.exceptions.ChannelNotFoundEntity as exc:
        raise CommandError(f"no such queue (has the service ever started?): {exc}") from None
    finally:
        await bus.close()


async def dlq_list(settings: Settings, args: argparse.Namespace) -> Any:
    if not 0 <= args.sample <= 1000:
        raise CommandError("--sample must be 0 to 1000")
    async with _bus(settings) as bus:
        return await dlq.listing(bus, [args.service] if args.service else list(dlq.SERVICES), args.sample)


async def dlq_replay(settings: Settings, args: argparse.Namespace) -> Any:
    if args.limit is not None and args.limit < 1:
        raise CommandError("--limit must be at least 1")
    async with _bus(settings) as bus:
        return await dlq.replay(bus, args.service, args.limit)


async def dlq_purge(settings: Settings, args: argparse.Namespace) -> Any:
    async with _bus(settings) as bus:
        return await dlq.purge(bus, args.service)


async def token_revoke(settings: Settings, args: argparse.Namespace) -> Any:
    now = datetime.now(UTC)
    async with _db(settings) as conn:
        if args.jti is not None:
            try:
                jti = UUID(args.jti)
            except ValueError:
                raise CommandError("a jti is a UUID") from None
            if not await tokens_repo.revoke(conn, jti, now):
                raise CommandError("no unrevoked token with that jti")
            return {"jti": str(jti), "revoked": 1}
        request = await _find_request(conn, _secrets(settings), args.grant)
        return {"grant": str(request.id), "revoked": await tokens_repo.revoke_grant(conn, request.id, now)}


async def request_list(settings: Settings, args: argparse.Namespace) -> Any:
    if not 1 <= args.limit <= 10_000:
        raise CommandError("--limit must be 1 to 10000")
    before = datetime.now(UTC) - timedelta(seconds=args.older_than) if args.older_than is not None else None
    secrets = _secrets(settings)
    async with _db(settings) as conn:
        found = await auth_requests.search(conn, status=args.status, client_id=args.client, username=args.user,
                                           created_before=before, limit=args.limit)
    return [{"id": str(r.id), "auth_req": auth_req_fingerprint(secrets.decrypt(r.auth_req_id_enc)),
             "status": r.status, "client_id": r.client_id, "username": item.username,
             "delivery_mode": r.delivery_mode, "created_at": r.created_at, "expires_at": r.expires_at,
             "decided_at": r.decided_at, "failure_reason": r.failure_reason}
            for item in found for r in [item.request]]


async def request_cancel(settings: Settings, args: argparse.Namespace) -> Any:
    secrets = _secrets(settings)
    async with _db(settings) as conn:
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
    secrets = _secrets(settings)
    async with _db(settings) as conn:
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
