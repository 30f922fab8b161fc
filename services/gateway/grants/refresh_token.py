"""The refresh_token grant (RFC 6749 6) with rotation.

Each refresh token is good for one exchange and is replaced by a new one. Presenting a
refresh token that was already used is treated as theft (OAuth 2.0 Security BCP 4.14.2):
every token of that grant is revoked.
"""

from __future__ import annotations

from typing import Any

from services.gateway.context import Gateway
from services.gateway.forms import Form
from shared.domain.token_issuance import BEARER, Binding, Grant
from shared.errors import InvalidGrant, InvalidScope
from shared.logging import get_logger
from shared.repositories import tokens, users
from shared.repositories.clients import Client

GRANT_TYPE = "refresh_token"
log = get_logger("ciba.gateway")


def _narrowed_scope(form: Form, granted: list[str]) -> list[str]:
    raw = form.get("scope")
    if raw is None:
        return granted
    asked = list(dict.fromkeys(raw.split()))
    if not set(asked) <= set(granted) or "openid" not in asked:
        raise InvalidScope("scope must be a subset of the original grant, including openid")
    return asked


async def exchange(gw: Gateway, client: Client, form: Form, *, binding: Binding = BEARER) -> dict[str, Any]:
    rt = gw.rt
    presented = form.require("refresh_token")
    now = rt.clock.now()
    record = await tokens.get_refresh(rt.pool, rt.secrets.hashes(presented))
    if record is None or record.client_id != client.client_id:
        raise InvalidGrant("refresh_token is unknown or was issued to another client")
    scope = _narrowed_scope(form, record.scope)
    async with rt.pool.acquire() as conn:
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
                token_set = await gw.minter.mint(conn, client, grant, config=rt.config, now=now, binding=binding)
                return token_set.as_response()
    raise InvalidGrant("refresh_token is expired, revoked or already used")
