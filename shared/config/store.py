"""Reading and changing the server properties: shared by ciba-admin and the config API.

Every change is validated against the whole configuration (a bad value is refused with a
message naming the property), stored with its secrets sealed, and announced by NOTIFY so
every running service applies it within 2 seconds.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from shared.config.model import PROPERTY_NAMES, ConfigError, ServerConfig, build_config
from shared.config.sealed import mask, seal, unseal
from shared.crypto import DecryptionError, Secrets
from shared.db import Connection
from shared.repositories import config as config_repo


class UnknownProperty(ConfigError):
    pass


async def load(conn: Connection | asyncpg.Pool, env: str, secrets: Secrets) -> ServerConfig:
    """The effective configuration with secrets unsealed, as the services use it."""
    try:
        stored = unseal(await config_repo.load_stored(conn), secrets)
    except DecryptionError:
        raise ConfigError("a stored secret does not decrypt under CIBA_SECRET_KEY") from None
    return build_config(stored, env)


async def masked(conn: Connection | asyncpg.Pool, env: str, secrets: Secrets) -> dict[str, Any]:
    """The effective configuration for people: every secret masked."""
    masked_config: dict[str, Any] = mask((await load(conn, env, secrets)).model_dump())
    return masked_config


def _check_name(key: str) -> None:
    if key not in PROPERTY_NAMES:
        raise UnknownProperty(f"{key}: unknown server property")


async def set_property(conn: Connection, env: str, secrets: Secrets, key: str, value: Any) -> Any:
    """Validate, store (sealed) and announce; returns the stored value, masked."""
    _check_name(key)
    stored = unseal(await config_repo.load_stored(conn), secrets)
    effective = build_config({**stored, key: value}, env)
    normalised = effective.model_dump()[key]
    try:  # Python's json reads NaN and Infinity; Postgres's jsonb (rightly) does not
        json.dumps(normalised, allow_nan=False)
    except ValueError:
        raise ConfigError(f"{key}: NaN and Infinity are not JSON values") from None
    async with conn.transaction():
        await config_repo.upsert(conn, key, seal(normalised, secrets))
    return mask(normalised)


async def unset_property(conn: Connection, env: str, secrets: Secrets, key: str) -> Any:
    """Back to the default; returns the value now in effect, masked."""
    _check_name(key)
    async with conn.transaction():
        await config_repo.delete(conn, key)
    return (await masked(conn, env, secrets))[key]
