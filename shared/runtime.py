"""What every service process does the same way: read settings, configure logs, open the
pool (migrating under the advisory lock), load the live configuration, run until SIGTERM,
then close everything and exit 0.

A service supplies only its body: ``async def body(rt: Runtime, stop: asyncio.Event)``, which
returns once ``stop`` is set and its own work is drained.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from pydantic import ValidationError

from shared.clock import Clock, SystemClock
from shared.config.live import LiveConfig
from shared.config.model import ServerConfig
from shared.crypto import DecryptionError, Secrets
from shared.db import migrate
from shared.db.listener import PgListener
from shared.db.pool import connect, create_pool
from shared.logging import configure_logging, get_logger
from shared.repositories.auth_requests import AuthRequest
from shared.settings import Settings

log = get_logger("ciba.runtime")


@dataclass
class Runtime:
    settings: Settings
    service: str
    pool: asyncpg.Pool
    secrets: Secrets
    clock: Clock
    live_config: LiveConfig
    listener: PgListener
    side_tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def config(self) -> ServerConfig:
        return self.live_config.current

    def auth_req_id(self, request: AuthRequest) -> str | None:
        """The plain auth_req_id of a stored request, for logs and callbacks."""
        try:
            return self.secrets.decrypt(request.auth_req_id_enc)
        except DecryptionError:
            log.error("auth_req_id_undecryptable", request_id=str(request.id))
            return None

    def start_side_task(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        task.add_done_callback(_report_crash)
        self.side_tasks.append(task)
        return task


def _report_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("side_task_crashed", task=task.get_name(), error=repr(task.exception()))


async def wait_for_database(dsn: str, *, timeout: float = 60.0) -> None:
    """Compose and Kubernetes may start us before Postgres answers: wait, then fail clearly."""
    deadline = asyncio.get_running_loop().time() + timeout
    delay = 0.5
    while True:
        try:
            conn = await connect(dsn)
            await conn.close()
            return
        except (OSError, asyncpg.PostgresError) as exc:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise RuntimeError(f"database not reachable: {exc}") from exc
            log.warning("database_not_ready", error=str(exc)[:200], retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


@asynccontextmanager
async def open_runtime(settings: Settings, service: str, *,
                       clock: Clock | None = None) -> AsyncIterator[Runtime]:
    await wait_for_database(settings.database_url)
    if settings.migrate_on_start:
        conn = await connect(settings.database_url)
        try:
            await migrate.upgrade(conn)
        finally:
            await conn.close()
    pool = await create_pool(settings.database_url, min_size=settings.db_pool_min,
                             max_size=settings.db_pool_max, connect_timeout=settings.db_connect_timeout_sec)
    listener = PgListener(settings.database_url)
    secrets = Secrets(settings.secret_key_bytes)
    live_config = LiveConfig(pool, settings.env, secrets)
    await live_config.load()
    live_config.attach(listener)
    rt = Runtime(settings=settings, service=service, pool=pool, secrets=secrets, clock=clock or SystemClock(),
                 live_config=live_config, listener=listener)
    try:
        yield rt
    finally:
        for task in rt.side_tasks:
            task.cancel()
        for task in rt.side_tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        await pool.close()


def start_watchers(rt: Runtime) -> None:
    """Start the LISTEN connection and the config watcher (after all subscriptions)."""
    rt.start_side_task(rt.listener.run(), "pg-listener")
    rt.start_side_task(rt.live_config.watch(), "config-watcher")


Body = Callable[[Runtime, asyncio.Event], Awaitable[None]]


def run_service(service: str, body: Body) -> None:
    """The console-script entry point of a service."""
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"{service}: invalid settings: {_one_line(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(service, settings.log_format, settings.log_level,
                      notification_log_file=settings.notification_log_file)
    try:
        with asyncio.Runner(loop_factory=_loop_factory(settings)) as runner:
            runner.run(_run(settings, service, body))
    except (RuntimeError, OSError, asyncpg.PostgresError) as exc:
        log.error("service_failed", error=str(exc) or type(exc).__name__)
        raise SystemExit(1) from None
    log.info("service_stopped")


async def _run(settings: Settings, service: str, body: Body) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("service_starting", env=settings.env, namespace=settings.bus_namespace)
    async with open_runtime(settings, service) as rt:
        await body(rt, stop)


def _loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop unless the operator asked for asyncio's own loop: its transports and scheduling
    are in C, which matters in services that spend most of their time on socket I/O."""
    if settings.event_loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def _one_line(exc: ValidationError) -> str:
    return "; ".join(
        f"CIBA_{'_'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: {err['msg']}"
        for err in exc.errors()
    )
