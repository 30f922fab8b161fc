"""Minting the token set of a grant: used by /token (poll, ping) and by token-delivery (push).

Tokens are handed out once per request: ``issue_for_request`` moves the request from approved
to tokens_issued with a conditional update, in the same statement that records the tokens and
the history row, so a second exchange (or a racing one) gets nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson

from shared import metrics
from shared.config.model import ServerConfig
from shared.crypto import Secrets, new_token
from shared.db import Connection
from shared.db.errors import UNAVAILABLE
from shared.domain.auth_request import AuthRequest, Status
from shared.domain.grant_types import REFRESH_TOKEN_GRANT
from shared.jose import tokens as jose_tokens
from shared.jose.keys import KeyRing
from shared.logging import get_logger
from shared.loops import GaveUp, retry_until
from shared.repositories import auth_requests, tokens
from shared.repositories.clients import Client
from shared.repositories.tokens import TokenRecord

log = get_logger("ciba.tokens")

PUSH_AUTH_REQ_ID_CLAIM = "urn:openid:params:jwt:claim:auth_req_id"


@dataclass(frozen=True)
class Binding:
    """What the access token is bound to, found at /token: ``cnf`` (RFC 7800) with the client
    certificate's thumbprint (mTLS, RFC 8705) or the DPoP key's (RFC 9449), and the
    ``token_type`` the client must present it with. The default binds nothing: a Bearer token."""

    cnf: dict[str, Any] | None = None
    token_type: str = "Bearer"


BEARER = Binding()


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    expires_in: int
    id_token: str
    refresh_token: str | None
    scope: list[str]
    token_type: str = "Bearer"
    authorization_details: list[dict[str, Any]] | None = None

    def as_response(self) -> dict[str, Any]:
        """RFC 6749 5.1 / CIBA 10.1.1, with the granted authorization_details (RFC 9396 7)."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "id_token": self.id_token,
            "scope": " ".join(self.scope),
        }
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        if self.authorization_details:
            body["authorization_details"] = self.authorization_details
        return body


@dataclass(frozen=True)
class Grant:
    """What a token set is minted from: a decided request, or the grant behind a refresh token."""

    grant_id: UUID
    sub: str
    scope: list[str]
    auth_time: datetime | None
    acr: str | None
    # RFC 9396: what the user approved besides the scopes (the request's authorization_details).
    authorization_details: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Minter:
    keyring: KeyRing
    secrets: Secrets
    issuer: str

    async def mint(self, conn: Connection, client: Client, grant: Grant, *,
                   config: ServerConfig, now: datetime, binding: Binding = BEARER) -> TokenSet:
        """Sign the tokens and record them in the caller's transaction."""
        token_set, records = self.build(client, grant, config=config, now=now, binding=binding)
        await tokens.insert_many(conn, records)
        return token_set

    def build(self, client: Client, grant: Grant, *, config: ServerConfig, now: datetime,
              push_auth_req_id: str | None = None, binding: Binding = BEARER) -> tuple[TokenSet, list[TokenRecord]]:
        """Sign the tokens, and the records that make them known (and revocable), without
        storing them yet. For push delivery (``push_auth_req_id``) the id_token also carries the
        auth_req_id and rt_hash (CIBA Core 10.3.1)."""
        jti = uuid4()
        access_token = jose_tokens.sign(
            self.keyring, jose_tokens.ACCESS_TOKEN_ALG,
            jose_tokens.access_token_claims(
                issuer=self.issuer, client_id=client.client_id, sub=grant.sub, scope=grant.scope,
                jti=str(jti), now=now, lifetime=config.accessTokenLifetime,
                auth_time=grant.auth_time, acr=grant.acr, cnf=binding.cnf,
                authorization_details=grant.authorization_details,
            ),
            typ="at+jwt",
        )
        records = [self._record(jti, "access", None, client, grant, now,
                                now + timedelta(seconds=config.accessTokenLifetime), cnf=binding.cnf)]
        refresh_token = None
        if REFRESH_TOKEN_GRANT in client.grant_types:
            refresh_token = new_token(32)
            records.append(self._record(uuid4(), "refresh", self.secrets.hash(refresh_token), client, grant, now,
                                        now + timedelta(seconds=config.refreshTokenLifetime)))
        alg = client.id_token_signed_response_alg
        extra: dict[str, Any] = {"at_hash": jose_tokens.half_hash(access_token, alg)}
        if push_auth_req_id is not None:
            extra[PUSH_AUTH_REQ_ID_CLAIM] = push_auth_req_id
            if refresh_token:
                extra["rt_hash"] = jose_tokens.half_hash(refresh_token, alg)
        id_token = jose_tokens.sign(
            self.keyring, alg,
            jose_tokens.id_token_claims(
                issuer=self.issuer, client_id=client.client_id, sub=grant.sub, now=now,
                lifetime=config.idTokenLifetime, auth_time=grant.auth_time, acr=grant.acr,
                extra=extra,
            ),
        )
        return TokenSet(access_token, config.accessTokenLifetime, id_token, refresh_token,
                        grant.scope, binding.token_type, authorization_details=grant.authorization_details), records

    @staticmethod
    def _record(token_id: UUID, kind: str, token_hash: bytes | None, client: Client, grant: Grant,
                now: datetime, expires_at: datetime, cnf: dict[str, Any] | None = None) -> TokenRecord:
        return TokenRecord(
            id=token_id, kind=kind, token_hash=token_hash, grant_id=grant.grant_id,
            client_id=client.client_id, sub=grant.sub, scope=grant.scope,
            auth_time=grant.auth_time, acr=grant.acr, issued_at=now, expires_at=expires_at,
            used_at=None, revoked_at=None, cnf=cnf, authorization_details=grant.authorization_details,
        )


# How long an exchange whose connection broke keeps asking whether its tokens were recorded,
# within the gateway's request deadline (CIBA_HTTP_REQUEST_TIMEOUT_SEC, 15 s by default).
CONFIRM_WINDOW_SEC = 8.0


async def _recorded_after_all(pool: asyncpg.Pool, token_id: UUID) -> bool:
    """Whether a token was stored, asked again (with back-off) while the database is out of
    reach; False when it cannot be told within CONFIRM_WINDOW_SEC."""
    try:
        return await retry_until(lambda: tokens.exists(pool, token_id, timeout=2.0), timeout=CONFIRM_WINDOW_SEC,
                                 retry_on=UNAVAILABLE, first_delay=0.1, max_delay=1.0)
    except GaveUp:
        return False


async def issue_for_request(conn: Connection | asyncpg.Pool, minter: Minter, request: AuthRequest,
                            client: Client, *, config: ServerConfig, now: datetime, service: str,
                            push_auth_req_id: str | None = None, binding: Binding = BEARER) -> TokenSet | None:
    """approved -> tokens_issued and the token set, in one statement; None if another exchange
    got there first. For push delivery the payload (the token response plus the auth_req_id)
    is kept encrypted on the request in the same statement, so a retried push carries the same
    tokens."""
    grant = Grant(grant_id=request.id, sub=request.sub, scope=request.scope,
                  auth_time=request.auth_time, acr=request.acr, authorization_details=request.authorization_details)
    token_set, records = minter.build(client, grant, config=config, now=now, push_auth_req_id=push_auth_req_id,
                                      binding=binding)
    push_payload_enc = None
    if push_auth_req_id is not None:
        payload = {**token_set.as_response(), "auth_req_id": push_auth_req_id}
        push_payload_enc = minter.secrets.encrypt(orjson.dumps(payload).decode())
    try:
        issued = await auth_requests.issue_tokens(conn, request.id, now=now, service=service, records=records,
                                                  push_payload_enc=push_payload_enc)
    except UNAVAILABLE:
        # The connection broke: the statement may have committed before its answer was lost.
        # If it did, these tokens are the request's, and answering 503 would lose them (the
        # client's retry would only hear that tokens were already issued).
        if not isinstance(conn, asyncpg.Pool) or not await _recorded_after_all(conn, records[0].id):
            raise
        log.warning("token_issuance_confirmed_after_connection_loss", auth_request=str(request.id))
        issued = True
    if not issued:
        return None
    metrics.transition(Status.TOKENS_ISSUED, request.delivery_mode)
    metrics.stage("decided_to_tokens_issued", request.decided_at, now)
    return token_set
