"""The DPoP proofs already accepted, by every replica (shared.repositories.dpop_proofs;
services.gateway.dpop_proof.SeenProofs)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.repositories import dpop_proofs


class PostgresSeenProofs:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def use(self, jkt: str, jti_hash: bytes, expires_at: datetime) -> bool:
        return await dpop_proofs.use(self._pool, jkt, jti_hash, expires_at)
