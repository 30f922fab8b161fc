"""CIBA requests as the CIBA grant at /token polls them and exchanges them for tokens
(shared.repositories.auth_requests, shared.domain.token_issuance;
services.gateway.grants.ciba.CibaRequests)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.domain.auth_request import AuthRequest
from shared.domain.token_issuance import Binding, Minter, TokenSet, issue_for_request
from shared.repositories import auth_requests
from shared.repositories.auth_requests import Poll
from shared.repositories.clients import Client


class PostgresCibaRequests:
    def __init__(self, pool: asyncpg.Pool, secrets: Secrets, minter: Minter, service: str) -> None:
        self._pool = pool
        self._secrets = secrets  # auth_req_ids are stored as keyed hashes
        self._minter = minter
        self._service = service

    async def record_poll(self, auth_req_id: str, client_id: str, now: datetime) -> Poll | None:
        return await auth_requests.record_poll(self._pool, self._secrets.hashes(auth_req_id), client_id, now)

    async def get(self, request_id: UUID) -> AuthRequest | None:
        return await auth_requests.get(self._pool, request_id)

    async def issue_tokens(self, request: AuthRequest, client: Client, *, config: ServerConfig, now: datetime,
                           binding: Binding) -> TokenSet | None:
        return await issue_for_request(self._pool, self._minter, request, client, config=config, now=now,
                                       service=self._service, binding=binding)
