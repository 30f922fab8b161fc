"""Registered clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Connection
from shared.domain.auth_request import DeliveryMode
from shared.domain.grant_types import CIBA_GRANT

CLIENTS_CHANNEL = "ciba_clients"


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret_hash: bytes | None
    client_name: str | None
    token_endpoint_auth_method: str
    grant_types: list[str]
    scope: list[str]
    backchannel_token_delivery_mode: DeliveryMode | None
    backchannel_client_notification_endpoint: str | None
    backchannel_authentication_request_signing_alg: str | None
    backchannel_user_code_parameter: bool
    id_token_signed_response_alg: str
    metadata: dict[str, Any]
    created_at: datetime
    client_secret_enc: str | None = None
    token_endpoint_auth_signing_alg: str | None = None

    @property
    def display_name(self) -> str:
        return self.client_name or self.client_id

    @property
    def jwks(self) -> dict[str, Any] | None:
        return self.metadata.get("jwks")

    @property
    def jwks_uri(self) -> str | None:
        return self.metadata.get("jwks_uri")

    @property
    def uses_ciba(self) -> bool:
        return CIBA_GRANT in self.grant_types and self.backchannel_token_delivery_mode is not None


_COLUMNS = (
    "client_id, client_secret_hash, client_name, token_endpoint_auth_method, grant_types, scope,"
    " backchannel_token_delivery_mode, backchannel_client_notification_endpoint,"
    " backchannel_authentication_request_signing_alg, backchannel_user_code_parameter,"
    " id_token_signed_response_alg, metadata, created_at, client_secret_enc, token_endpoint_auth_signing_alg"
)


def columns(alias: str, prefix: str) -> str:
    """The client's columns for a query that joins it, each named ``prefix`` + column."""
    return ", ".join(f"{alias}.{c.strip()} AS {prefix}{c.strip()}" for c in _COLUMNS.split(","))


def from_record(row: Any, prefix: str = "") -> Client:
    """The client out of a row that holds ``columns(..., prefix)`` (or its own columns)."""
    fields = {name: row[prefix + name] for name in Client.__dataclass_fields__}
    mode = fields["backchannel_token_delivery_mode"]
    fields["backchannel_token_delivery_mode"] = DeliveryMode(mode) if mode is not None else None
    return Client(**fields)


async def insert(conn: Connection, client: Client) -> None:
    await conn.execute(
        f"INSERT INTO clients ({_COLUMNS})"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        client.client_id, client.client_secret_hash, client.client_name,
        client.token_endpoint_auth_method, client.grant_types, client.scope,
        client.backchannel_token_delivery_mode, client.backchannel_client_notification_endpoint,
        client.backchannel_authentication_request_signing_alg,
        client.backchannel_user_code_parameter, client.id_token_signed_response_alg,
        client.metadata, client.created_at, client.client_secret_enc, client.token_endpoint_auth_signing_alg,
    )
    await conn.execute("SELECT pg_notify($1, $2)", CLIENTS_CHANNEL, client.client_id)


async def store_secret(conn: Connection | asyncpg.Pool, client_id: str, secret_hash: bytes,
                       secret_enc: str) -> None:
    """The client's secret, hashed and encrypted anew (under the newest master key)."""
    await conn.execute(
        "UPDATE clients SET client_secret_hash = $2, client_secret_enc = $3 WHERE client_id = $1",
        client_id, secret_hash, secret_enc)
    await conn.execute("SELECT pg_notify($1, $2)", CLIENTS_CHANNEL, client_id)


async def set_registration_token(conn: Connection | asyncpg.Pool, client_id: str, token_hash: bytes) -> None:
    await conn.execute("UPDATE clients SET registration_token_hash = $2 WHERE client_id = $1", client_id, token_hash)


async def registration_token_hash(conn: Connection | asyncpg.Pool, client_id: str) -> bytes | None:
    token_hash: bytes | None = await conn.fetchval(
        "SELECT registration_token_hash FROM clients WHERE client_id = $1", client_id)
    return token_hash


async def replace(conn: Connection | asyncpg.Pool, client: Client) -> bool:
    """Store ``client``'s metadata in place of what was registered (RFC 7592 2.2: a full
    replacement); its secret and registration token stay."""
    result = await conn.execute(
        """UPDATE clients SET client_name = $2, token_endpoint_auth_method = $3, grant_types = $4, scope = $5,
                  backchannel_token_delivery_mode = $6, backchannel_client_notification_endpoint = $7,
                  backchannel_authentication_request_signing_alg = $8, backchannel_user_code_parameter = $9,
                  id_token_signed_response_alg = $10, metadata = $11, token_endpoint_auth_signing_alg = $12
            WHERE client_id = $1""",
        client.client_id, client.client_name, client.token_endpoint_auth_method, client.grant_types, client.scope,
        client.backchannel_token_delivery_mode, client.backchannel_client_notification_endpoint,
        client.backchannel_authentication_request_signing_alg, client.backchannel_user_code_parameter,
        client.id_token_signed_response_alg, client.metadata, client.token_endpoint_auth_signing_alg,
    )
    await conn.execute("SELECT pg_notify($1, $2)", CLIENTS_CHANNEL, client.client_id)
    return result.endswith(" 1")


async def remove(conn: Connection | asyncpg.Pool, client_id: str) -> bool:
    """Delete the client with its requests and tokens (the foreign keys cascade)."""
    result = await conn.execute("DELETE FROM clients WHERE client_id = $1", client_id)
    await conn.execute("SELECT pg_notify($1, $2)", CLIENTS_CHANNEL, client_id)
    return result.endswith(" 1")


async def get(conn: Connection | asyncpg.Pool, client_id: str) -> Client | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM clients WHERE client_id = $1", client_id)
    return from_record(row) if row else None


async def list_all(conn: Connection | asyncpg.Pool) -> list[Client]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM clients ORDER BY created_at")
    return [from_record(row) for row in rows]
