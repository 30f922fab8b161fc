"""One LISTEN connection per process, fanned out to callbacks, reconnected when lost.

Postgres delivers a NOTIFY only to sessions listening at that moment, so after a reconnect
every ``on_reconnect`` callback runs: a watcher reloads whatever it may have missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg

from shared.db.pool import connect
from shared.logging import get_logger

log = get_logger("ciba.db")

NotifyCallback = Callable[[str], None]


class PgListener:
    def __init__(self, dsn: str, *, health_interval: float = 5.0) -> None:
        self._dsn = dsn
        self._callbacks: dict[str, list[NotifyCallback]] = {}
        self._on_reconnect: list[Callable[[], Awaitable[None] | None]] = []
        self._health_interval = health_interval
        self.connected = asyncio.Event()

    def subscribe(self, channel: str, callback: NotifyCallback) -> None:
        self._callbacks.setdefault(channel, []).append(callback)

    def on_reconnect(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        self._on_reconnect.append(callback)

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        text = str(payload)  # a NOTIFY payload is text (asyncpg's stubs type it object)
        for callback in self._callbacks.get(channel, ()):
            try:
                callback(text)
            except Exception:
                log.exception("notify_callback_failed", channel=channel)

    async def run(self) -> None:
        """Listen until cancelled; reconnect with back-off when the connection drops."""
        delay = 0.5
        first = True
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await connect(self._dsn)
                for channel in self._callbacks:
                    await conn.add_listener(channel, self._dispatch)
                self.connected.set()
                if not first:
                    log.info("listener_reconnected")
                    for callback in self._on_reconnect:
                        result = callback()
                        if asyncio.iscoroutine(result):
                            await result
                first, delay = False, 0.5
                while True:
                    await asyncio.sleep(self._health_interval)
                    await conn.fetchval("SELECT 1", timeout=self._health_interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected.clear()
                log.warning("listener_connection_lost", error=str(exc)[:200], retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                if conn is not None and not conn.is_closed():
                    conn.terminate()
