"""ciba-admin client: registered clients, as /register (RFC 7591) would register them."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.admin.commands.common import CommandError, database, master_secrets
from shared.config import store as config_store
from shared.crypto import new_token
from shared.domain import client_metadata
from shared.domain.grant_types import CIBA_GRANT
from shared.errors import InvalidClientMetadata
from shared.repositories import clients
from shared.settings import Settings


async def client_list(settings: Settings, args: argparse.Namespace) -> Any:
    async with database(settings) as conn:
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
    secrets = master_secrets(settings)
    secret = new_token(32)
    async with database(settings) as conn:
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
    async with database(settings) as conn:
        client = await _existing_client(conn, args.client_id)
        managed = await clients.registration_token_hash(conn, client.client_id) is not None
    return {**_client(client), "registration_access_token_issued": managed}


async def client_update(settings: Settings, args: argparse.Namespace) -> Any:
    """The given fields replace the registered ones; the others stay."""
    secrets = master_secrets(settings)
    async with database(settings) as conn:
        current = await _existing_client(conn, args.client_id)
        config = await config_store.load(conn, settings.env, secrets)
        updated = _client_from(settings, config, {**current.metadata, **_metadata_given(args)},
                               client_id=current.client_id, secret_hash=current.client_secret_hash,
                               secret_enc=current.client_secret_enc, created_at=current.created_at)
        await clients.replace(conn, updated)
    return _client(updated)


async def client_remove(settings: Settings, args: argparse.Namespace) -> Any:
    async with database(settings) as conn:
        if not await clients.remove(conn, args.client_id):
            raise CommandError(f"no client {args.client_id!r}")
    return {"client_id": args.client_id, "removed": True}


async def client_rotate_secret(settings: Settings, args: argparse.Namespace) -> Any:
    secrets = master_secrets(settings)
    secret = new_token(32)
    async with database(settings) as conn:
        await _existing_client(conn, args.client_id)
        await clients.store_secret(conn, args.client_id, secrets.hash(secret), secrets.encrypt(secret))
    return {"client_id": args.client_id, "client_secret": secret}  # shown this once; the old one is dead
