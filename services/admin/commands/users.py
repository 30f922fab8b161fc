"""ciba-admin user and device: the user directory, and the devices registered for push."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import asyncpg

from services.admin.commands.common import CommandError, ask_secret, database, master_secrets
from shared import totp
from shared.domain import lifecycle, user_code
from shared.logging import auth_req_fingerprint
from shared.passwords import Passwords
from shared.repositories import auth_requests, devices, users
from shared.repositories.users import User, UserExists
from shared.settings import Settings


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
    password = ask_secret(args.password, "password", "--password-stdin", args.password_stdin)
    if len(password) < 8:
        raise CommandError("password must be at least 8 characters")
    user = User(sub=str(uuid4()), username=args.username, email=args.email,
                phone_number=args.phone, password_hash=Passwords(settings.argon2_params).hash(password),
                claims=_claims(args.claim))
    async with database(settings) as conn:
        try:
            await users.insert(conn, user)
        except UserExists as exc:
            raise CommandError(f"a user with that username, email or phone exists ({exc})") from None
    return {"sub": user.sub, "username": user.username}


async def user_set_code(settings: Settings, args: argparse.Namespace) -> Any:
    try:
        code = ask_secret(args.code, "user code", "--code-stdin", args.code_stdin)
        code_hash = Passwords(settings.argon2_params).hash(user_code.check_format(code))
    except user_code.InvalidUserCode as exc:
        raise CommandError(str(exc)) from None
    async with database(settings) as conn:
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
    secret_enc = master_secrets(settings).encrypt(secret)
    async with database(settings) as conn:
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
    async with database(settings) as conn:
        found = await users.list_entries(conn, search=args.search, disabled=args.disabled, limit=args.limit)
    return [_entry(entry) for entry in found]


async def _existing_user(conn: asyncpg.Connection, username: str) -> users.Entry:
    entry = await users.entry(conn, username)
    if entry is None:
        raise CommandError(f"no user named {username!r}")
    return entry


async def user_show(settings: Settings, args: argparse.Namespace) -> Any:
    async with database(settings) as conn:
        return _entry(await _existing_user(conn, args.username))


async def user_passwd(settings: Settings, args: argparse.Namespace) -> Any:
    async with database(settings) as conn:
        await _existing_user(conn, args.username)  # before asking for a password in vain
        password = ask_secret(args.password, "password", "--password-stdin", args.password_stdin)
        if len(password) < 8:
            raise CommandError("password must be at least 8 characters")
        await users.set_password(conn, args.username, Passwords(settings.argon2_params).hash(password))
    return {"username": args.username, "password": "set"}


async def user_disable(settings: Settings, args: argparse.Namespace) -> Any:
    async with database(settings) as conn:
        denied = await lifecycle.disable_user(conn, args.username, now=datetime.now(UTC), service="admin")
    if denied is None:
        raise CommandError(f"no user named {args.username!r}")
    secrets = master_secrets(settings)
    return {"username": args.username, "disabled": True,
            "denied_requests": [auth_req_fingerprint(secrets.decrypt(r.auth_req_id_enc)) for r in denied]}


async def user_enable(settings: Settings, args: argparse.Namespace) -> Any:
    async with database(settings) as conn:
        if await users.set_disabled(conn, args.username, None) is None:
            raise CommandError(f"no user named {args.username!r}")
    return {"username": args.username, "disabled": False}


async def user_remove(settings: Settings, args: argparse.Namespace) -> Any:
    async with database(settings) as conn:
        entry = await _existing_user(conn, args.username)
        if await auth_requests.pending_for_user(conn, entry.sub):
            raise CommandError("the user has pending requests: `ciba-admin user disable` denies them first")
        await users.remove(conn, args.username)
    return {"username": args.username, "removed": True}


def _totp_issuer(settings: Settings) -> str:
    """The name an authenticator app shows beside the code: the issuer's host name."""
    return urlsplit(settings.issuer).hostname or "ciba"


async def device_list(settings: Settings, args: argparse.Namespace) -> Any:
    async with database(settings) as conn:
        user = await users.get_by_username(conn, args.username)
        if user is None:
            raise CommandError(f"no user named {args.username!r}")
        found = await devices.for_user(conn, user.sub)
    # The push token itself is a secret of the device: shown only by its last characters.
    secrets = master_secrets(settings)
    return [{"device_registration_id": str(d.id), "token_hint": "…" + secrets.decrypt(d.token_enc)[-6:],
             "created_at": d.created_at, "last_registered_at": d.last_registered_at} for d in found]


async def device_remove(settings: Settings, args: argparse.Namespace) -> Any:
    try:
        device_id = UUID(args.device_id)
    except ValueError:
        raise CommandError("device_id must be a device_registration_id (a UUID)") from None
    async with database(settings) as conn:
        if not await devices.remove(conn, [device_id]):
            raise CommandError("no device with that id")
    return {"device_registration_id": str(device_id), "removed": True}
