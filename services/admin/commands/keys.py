"""ciba-admin keys and secrets: the signing keys' rotation, and re-keying what is stored under
an older master key."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from services.admin import rekey
from services.admin.commands.common import CommandError, database, master_secrets
from shared.config import store as config_store
from shared.jose import keys as signing_keys
from shared.jose.keys import ALG_KTY
from shared.repositories import keys as keys_repo
from shared.repositories.keys import StoredKey
from shared.settings import Settings


async def secrets_rekey(settings: Settings, args: argparse.Namespace) -> Any:
    def progress(line: str) -> None:
        print(f"ciba-admin: rekey: {line}", file=sys.stderr, flush=True)

    async with database(settings) as conn:
        return await rekey.rekey(conn, master_secrets(settings), now=datetime.now(UTC), progress=progress)


def _key(key: StoredKey, now: datetime, alg: str | None = None) -> dict[str, Any]:
    algs = [name for name, kty in ALG_KTY.items() if kty == key.kty]
    return {"kid": key.kid, "alg": alg or algs[0], "algs": algs, "state": key.state(now),
            "created_at": key.created_at, "activates_at": key.activates_at, "retires_at": key.retired_at}


async def keys_list(settings: Settings, args: argparse.Namespace) -> Any:
    now = datetime.now(UTC)
    async with database(settings) as conn:
        return [_key(key, now) for key in await keys_repo.list_keys(conn)]


async def keys_rotate(settings: Settings, args: argparse.Namespace) -> Any:
    now = datetime.now(UTC)
    async with database(settings) as conn:
        config = await config_store.load(conn, settings.env, master_secrets(settings))
        try:
            key = await signing_keys.rotate(conn, master_secrets(settings), args.alg, now=now,
                                            prepublish_sec=config.signingKeyPrepublishSec)
        except signing_keys.KeyChangeRefused as exc:
            raise CommandError(str(exc)) from None
    return _key(key, now, args.alg)


async def keys_retire(settings: Settings, args: argparse.Namespace) -> Any:
    now = datetime.now(UTC)
    async with database(settings) as conn:
        config = await config_store.load(conn, settings.env, master_secrets(settings))
        after = config.signingKeyRetireAfterSec
        if after is None:  # a token signed just now stays verifiable for as long as it lives
            after = max(config.accessTokenLifetime, config.idTokenLifetime)
        try:
            key = await signing_keys.retire(conn, args.kid, now=now, retire_after_sec=after)
        except signing_keys.KeyChangeRefused as exc:
            raise CommandError(str(exc)) from None
    return _key(key, now)
