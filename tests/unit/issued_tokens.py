"""Issued tokens without Postgres, for the rules of /introspect and /revoke: a keyring, records
kept in a dict (the ports introspection.TokenRecords and revocation.RevocableTokens), and
access and refresh tokens as the token endpoint issues them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from uuid import UUID, uuid4

from cryptography.fernet import Fernet

from shared.clock import FrozenClock
from shared.crypto import Secrets
from shared.domain.auth_request import DeliveryMode
from shared.jose.keys import KeyRing, generate
from shared.jose.tokens import ACCESS_TOKEN_ALG, access_token_claims, sign
from shared.repositories.clients import Client
from shared.repositories.tokens import TokenRecord

ISSUER = "https://as.example.com"
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
SECRETS = Secrets(Fernet.generate_key())


@cache
def keyring() -> KeyRing:
    return KeyRing([generate("RSA", NOW - timedelta(days=1), SECRETS)], SECRETS, FrozenClock(NOW))


def client(client_id: str) -> Client:
    return Client(client_id=client_id, client_secret_hash=None, client_name=None,
                  token_endpoint_auth_method="client_secret_basic",
                  grant_types=["urn:openid:params:grant-type:ciba"], scope=["openid"],
                  backchannel_token_delivery_mode=DeliveryMode.POLL, backchannel_client_notification_endpoint=None,
                  backchannel_authentication_request_signing_alg=None, backchannel_user_code_parameter=False,
                  id_token_signed_response_alg="RS256", metadata={}, created_at=NOW - timedelta(days=7))


class FakeTokens:
    """Token records by id, refresh tokens found by their keyed hash."""

    def __init__(self) -> None:
        self.records: dict[UUID, TokenRecord] = {}

    def add(self, record: TokenRecord) -> TokenRecord:
        self.records[record.id] = record
        return record

    async def by_id(self, token_id: UUID) -> TokenRecord | None:
        return self.records.get(token_id)

    async def refresh_by_hashes(self, token_hashes: list[bytes]) -> TokenRecord | None:
        return next((r for r in self.records.values()
                     if r.kind == "refresh" and r.token_hash in token_hashes), None)

    async def revoke(self, token_id: UUID, now: datetime) -> bool:
        record = self.records.get(token_id)
        if record is None or record.revoked_at is not None:
            return False
        self.records[token_id] = dataclasses.replace(record, revoked_at=now)
        return True

    async def revoke_grant(self, grant_id: UUID, now: datetime) -> int:
        revoked = [r for r in self.records.values() if r.grant_id == grant_id and r.revoked_at is None]
        for record in revoked:
            self.records[record.id] = dataclasses.replace(record, revoked_at=now)
        return len(revoked)

    def revoked(self) -> set[str]:
        return {r.kind for r in self.records.values() if r.revoked_at is not None}


def _record(kind: str, client_id: str, grant_id: UUID, token_hash: bytes | None, lifetime: int,
            **fields: Any) -> TokenRecord:
    values: dict[str, Any] = {
        "id": uuid4(), "kind": kind, "token_hash": token_hash, "grant_id": grant_id, "client_id": client_id,
        "sub": "user-1", "scope": ["openid", "email"], "auth_time": NOW - timedelta(minutes=1), "acr": "pwd",
        "issued_at": NOW - timedelta(minutes=1), "expires_at": NOW + timedelta(seconds=lifetime),
        "used_at": None, "revoked_at": None}
    return TokenRecord(**{**values, **fields})


def issue(tokens: FakeTokens, client_id: str, *, access_lifetime: int = 600,
          refresh_fields: dict[str, Any] | None = None, **access_fields: Any) -> tuple[str, str]:
    """An access token (signed, recorded by its jti) and a refresh token of one grant."""
    grant_id = uuid4()
    access = tokens.add(_record("access", client_id, grant_id, None, access_lifetime, **access_fields))
    claims = access_token_claims(issuer=ISSUER, client_id=client_id, sub=access.sub, scope=access.scope,
                                 jti=str(access.id), now=NOW - timedelta(minutes=1), lifetime=access_lifetime + 60,
                                 auth_time=access.auth_time, acr=access.acr, cnf=access.cnf)
    refresh = f"refresh-{uuid4()}"
    tokens.add(_record("refresh", client_id, grant_id, SECRETS.hash(refresh), 86400, **(refresh_fields or {})))
    return sign(keyring(), ACCESS_TOKEN_ALG, claims, typ="at+jwt"), refresh
