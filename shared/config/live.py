"""The configuration as a running service sees it, refreshed without a restart.

A change is announced by NOTIFY (``ciba-admin config set`` sends one) and applied at once; a
cheap fingerprint check every ``fallback_interval`` seconds covers a missed notification, so
every service sees a change within 2 seconds at worst.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from shared.config import store
from shared.config.model import ConfigError, ServerConfig, build_config
from shared.crypto import Secrets
from shared.db.listener import PgListener
from shared.logging import get_logger
from shared.repositories import config as config_repo

log = get_logger("ciba.config")


class LiveConfig:
    def __init__(self, pool: asyncpg.Pool, env: str, secrets: Secrets, *, fallback_interval: float = 1.5) -> None:
        self._pool = pool
        self._env = env
        self._secrets = secrets
        self._fallback_interval = fallback_interval
        self._changed = asyncio.Event()
        self._fingerprint: Any = None
        self.current: ServerConfig = build_config({}, env)

    async def load(self) -> ServerConfig:
        fingerprint = await config_repo.version(self._pool)
        try:
            self.current = await store.load(self._pool, self._env, self._secrets)
        except ConfigError as exc:
            # A bad value written behind our back: keep serving with the last good config.
            log.error("config_invalid_kept_previous", error=str(exc))
        self._fingerprint = fingerprint
        return self.current

    def attach(self, listener: PgListener) -> None:
        listener.subscribe(config_repo.CONFIG_CHANNEL, lambda _payload: self._changed.set())
        listener.on_reconnect(self._changed.set)

    async def watch(self) -> None:
        """Run until cancelled: reload on notification, or when the fingerprint moved."""
        while True:
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=self._fallback_interval)
                self._changed.clear()
                await self.load()
                log.info("config_reloaded")
            except TimeoutError:
                try:
                    if await config_repo.version(self._pool) != self._fingerprint:
                        await self.load()
                        log.info("config_reloaded")
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("config_refresh_failed", error=str(exc)[:200])
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("config_refresh_failed", error=str(exc)[:200])
