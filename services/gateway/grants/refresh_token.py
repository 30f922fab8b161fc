"""The refresh_token grant (RFC 6749 6) with rotation.

Each refresh token is good for one exchange and is replaced by a new one. Presenting a
refresh token that was already used is treated as theft (OAuth 2.0 Security BCP 4.14.2):
every token of that grant is revoked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.gateway.forms import Form
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.domain.grant_types import REFRESH_TOKEN_GRANT
from shared.domain.token_issuance import BEARER, Binding, Grant, Minter
from shared.errors import Errors, InvalidGrant, InvalidRequest, InvalidScope
from shared.logging import get_logger
from shared.repositories import tokens, users
from shared.repositories.clients import Client

GRANT_TYPE = REFRESH_TOKEN_GRANT
ERRORS: Errors = (InvalidRequest, InvalidGrant, InvalidScope)  # InvalidRequest: the form's
log = get_logger("ciba.gateway")


def _narrowed_scope(form: Form, granted: list[str]) -> list[str]:
    raw = form.get("scope")
    if raw is None:
        return granted
    asked = list(dict.fromkeys(raw.split()))
    if not set(asked) <= set(granted) or "openid" not in asked:
        raise InvalidScope("scope must be a subset of the original grant, including openid")
    return asked


async def exchange(client: Client, form: Form, *, pool: asyncpg.Pool, secrets: Secrets, minter: Minter,
                   config: ServerConfig, now: datetime, binding: Binding = BEARER) -> dict[str, Any]:
    presented = form.require("refresh_token")
    record = await tokens.get_refresh(pool, secrets.hashes(presented))
    if record is None or record.client_id != client.client_id:
        raise InvalidGrant("refresh_token is unknown or was issued to another client")
    scope = _narrowed_scope(form, record.scope)
    async with pool.acquire() as conn:
        async with conn.transaction():
            rotated = await tokens.use_refresh(conn, record.id, now)
            if not rotated:
                still_live = record.revoked_at is None and (
                    record.expires_at is None or record.expires_at > now)
                if still_live:  # it was used before: someone replayed it
                    await tokens.revoke_grant(conn, record.grant_id, now)
                    log.warning("refresh_token_reuse_detected", client_id=client.client_id)
            elif await users.get(conn, record.sub) is not None:
                grant = Grant(grant_id=record.grant_id, sub=record.sub, scope=scope,
                              auth_time=record.auth_time, acr=record.acr,
                              authorization_details=record.authorization_details)
                token_set = await minter.mint(conn, client, grant, config=config, now=now, binding=binding)
                return token_set.as_response()
    raise InvalidGrant("refresh_token is expired, revoked or already used")
